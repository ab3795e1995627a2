using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Sdtt;
using Sdtt.Data;

namespace Sdtt.Tests.Data;

public sealed class CorpusPreparerTests : IDisposable
{
    private const int Eos = 50256;
    private readonly string _root = Directory.CreateTempSubdirectory("sdtt-prep-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string Dir(string name)
    {
        var d = Path.Combine(_root, name);
        Directory.CreateDirectory(d);
        return d;
    }

    private static void Write(string dir, string rel, string text)
    {
        var p = Path.Combine(dir, rel);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, text, new UTF8Encoding(false));
    }

    private static ushort[] ReadBin(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var r = new ushort[bytes.Length / 2];
        for (int i = 0; i < r.Length; i++) r[i] = (ushort)(bytes[2 * i] | bytes[2 * i + 1] << 8);
        return r;
    }

    /// <summary>The chunks of a split with their [BOS] … [EOS] frame checked and removed, concatenated.</summary>
    private static List<int> Unframe(ushort[] data, int seqLen)
    {
        Assert.Equal(0, data.Length % seqLen);
        var inner = new List<int>();
        for (int s = 0; s < data.Length / seqLen; s++)
        {
            Assert.Equal(Eos, data[s * seqLen]);
            Assert.Equal(Eos, data[s * seqLen + seqLen - 1]);
            for (int i = 1; i < seqLen - 1; i++) inner.Add(data[s * seqLen + i]);
        }
        return inner;
    }

    private static List<int> Stream(IEnumerable<string> docs)
    {
        var all = new List<int>();
        foreach (var d in docs) { all.AddRange(Gpt2Tokenizer.Instance.Encode(d)); all.Add(Eos); }
        return all;
    }

    [Fact]
    public void FramingAndConcatenationFollowTheReference()
    {
        var input = Dir("in");
        Write(input, "a.txt", "Hello world");
        Write(input, "sub/b.txt", "The quick brown fox jumps over the lazy dog. It was a bright cold day in April.");
        Write(input, "c.jsonl", "{\"text\": \"First record, with a comma.\", \"id\": 1}\n\n{\"text\": \"Second record\\nspans two lines.\"}\r\n");
        var output = Path.Combine(_root, "out");
        const int L = 8;
        var r = CorpusPreparer.Prepare(new PrepareOptions(input, output, SeqLen: L, ValidFraction: 0));

        // Ordinal path order: a.txt, c.jsonl (lines 1 and 3), sub/b.txt.
        var docs = new[] { "Hello world", "First record, with a comma.", "Second record\nspans two lines.",
            "The quick brown fox jumps over the lazy dog. It was a bright cold day in April." };
        var expected = Stream(docs);
        Assert.Equal(new[] { 15496, 995, Eos }, expected.Take(3)); // known GPT-2 ids of "Hello world"
        var data = ReadBin(Path.Combine(output, "train.bin"));
        var inner = Unframe(data, L);
        long sequences = expected.Count / (L - 2);
        Assert.Equal(sequences, data.Length / L);
        Assert.Equal(expected.Take(inner.Count), inner);
        Assert.Equal(expected.Count - inner.Count, r.Train.DroppedTokens);
        Assert.InRange(r.Train.DroppedTokens, 0, L - 3);

        Assert.Null(r.Valid);
        Assert.False(File.Exists(Path.Combine(output, "valid.bin")));
        Assert.Equal(4, r.Documents);
        Assert.Equal(expected.Count, r.DocumentTokens);
        Assert.Equal(new long[] { 1, 2, 1 }, r.Sources.Select(s => s.Documents));
        Assert.Equal(new[] { "a.txt", "c.jsonl", "sub/b.txt" }, r.Sources.Select(s => s.Path));

        var m = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "manifest.json")))!;
        Assert.Equal("gpt2", (string)m["tokenizer"]!);
        Assert.Equal(L, (int)m["seq_len"]!);
        Assert.Equal("uint16", (string)m["dtype"]!);
        Assert.Equal(Eos, (int)m["bos_id"]!);
        Assert.Equal(Eos, (int)m["eos_id"]!);
        Assert.Equal(50257, (int)m["mask_id"]!);
        Assert.Equal(sequences, (long)m["splits"]!["train"]!["sequences"]!);
        Assert.Equal(sequences * L, (long)m["splits"]!["train"]!["tokens"]!);
        Assert.Equal(4, (long)m["documents"]!);
        Assert.Equal(expected.Count, (long)m["document_tokens"]!);
        Assert.Equal(expected.Count - inner.Count, (long)m["dropped_tokens"]!);
        var src = m["sources"]!.AsArray();
        Assert.Equal(3, src.Count);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(input, "a.txt")))),
            (string)src[0]!["sha256"]!);
        Assert.Equal(11, (long)src[0]!["bytes"]!);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(output, "train.bin")))),
            (string)m["splits"]!["train"]!["sha256"]!);

        using var ds = TokenDataset.Open(output, "train");
        Assert.Equal(sequences, ds.Count);
        Assert.Equal(L, ds.SeqLen);
        var row = new long[L];
        ds.Read(0, row);
        Assert.Equal(new long[] { Eos, 15496, 995, Eos }, row.Take(4));
        Assert.Empty(Directory.GetFiles(output, "*.sdtt-tmp"));
    }

    private string MakeCorpus(string name, int n, bool reverse)
    {
        var dir = Dir(name);
        var order = Enumerable.Range(0, n);
        if (reverse) order = order.Reverse();
        foreach (var i in order)
        {
            if (i % 5 == 4) continue; // these go into the jsonl
            Write(dir, $"d{i / 10}/doc{i:D2}.txt", $"Document number {i}. " + string.Concat(Enumerable.Repeat($"word{i} ", 5 + i % 7)));
        }
        var lines = Enumerable.Range(0, n).Where(i => i % 5 == 4).Select(i => $"{{\"text\":\"Record {i} of the jsonl file, repeated {i % 3} times.\"}}");
        Write(dir, "all.jsonl", string.Join("\n", reverse ? lines : lines) + "\n");
        return dir;
    }

    [Fact]
    public void SplitIsDeterministicByDocumentAndIndependentOfFileOrderAndThreads()
    {
        var a = MakeCorpus("a", 40, reverse: false);
        var b = MakeCorpus("b", 40, reverse: true);
        var ra = CorpusPreparer.Prepare(new PrepareOptions(a, Path.Combine(_root, "oa"), SeqLen: 16, ValidFraction: 0.3, Seed: 7));
        var rb = CorpusPreparer.Prepare(new PrepareOptions(b, Path.Combine(_root, "ob"), SeqLen: 16, ValidFraction: 0.3, Seed: 7) { MaxParallelism = 1 });
        foreach (var f in new[] { "train.bin", "valid.bin" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(_root, "oa", f)), File.ReadAllBytes(Path.Combine(_root, "ob", f)));
        Assert.Equal(ra.Train, rb.Train);
        Assert.Equal(ra.Valid, rb.Valid);
        Assert.Equal(40, ra.Documents);
        Assert.InRange(ra.Valid!.Documents, 1, 39);

        // The validation split holds exactly the documents the published rule selects, in path/line order.
        var docs = new List<(string Rel, long Line, string Text)>();
        foreach (var line in File.ReadAllLines(Path.Combine(a, "all.jsonl")).Select((t, i) => (t, i)))
            docs.Add(("all.jsonl", line.i + 1, (string)JsonNode.Parse(line.t)!["text"]!));
        foreach (var f in Directory.GetFiles(a, "*.txt", SearchOption.AllDirectories))
            docs.Add((Path.GetRelativePath(a, f).Replace('\\', '/'), 0, File.ReadAllText(f)));
        docs.Sort((x, y) => string.CompareOrdinal(x.Rel, y.Rel) != 0 ? string.CompareOrdinal(x.Rel, y.Rel) : x.Line.CompareTo(y.Line));
        var inValid = docs.Where(d => CorpusPreparer.IsValidation(7, d.Rel, d.Line, 0.3)).ToList();
        Assert.Equal(inValid.Count, ra.Valid.Documents);
        var validInner = Unframe(ReadBin(Path.Combine(_root, "oa", "valid.bin")), 16);
        Assert.Equal(Stream(inValid.Select(d => d.Text)).Take(validInner.Count), validInner);
        var trainInner = Unframe(ReadBin(Path.Combine(_root, "oa", "train.bin")), 16);
        Assert.Equal(Stream(docs.Except(inValid).Select(d => d.Text)).Take(trainInner.Count), trainInner);

        // Another seed selects other documents.
        var rc = CorpusPreparer.Prepare(new PrepareOptions(a, Path.Combine(_root, "oc"), SeqLen: 16, ValidFraction: 0.3, Seed: 8));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(_root, "oa", "valid.bin")), File.ReadAllBytes(Path.Combine(_root, "oc", "valid.bin")));
        Assert.Equal(ra.DocumentTokens, rc.DocumentTokens);
    }

    [Theory]
    [InlineData(0.001)]
    [InlineData(0.999)]
    public void EachSplitGetsAtLeastOneDocument(double fraction)
    {
        var input = Dir("in");
        Write(input, "one.txt", "The first document has a few words in it, enough for a sequence.");
        Write(input, "two.txt", "The second document also has a few words in it, enough for one sequence.");
        var r = CorpusPreparer.Prepare(new PrepareOptions(input, Path.Combine(_root, "out"), SeqLen: 6, ValidFraction: fraction));
        Assert.Equal(1, r.Train.Documents);
        Assert.Equal(1, r.Valid!.Documents);
        using var t = TokenDataset.Open(Path.Combine(_root, "out"), "train");
        using var v = TokenDataset.Open(Path.Combine(_root, "out"), "valid");
        Assert.True(t.Count > 0 && v.Count > 0);
    }

    private SdttException PrepareFails(string input, string output, int seqLen = 8, double fraction = 0)
    {
        var e = Assert.Throws<SdttException>(() => CorpusPreparer.Prepare(new PrepareOptions(input, output, seqLen, fraction)));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void BadInputsGiveOneLineErrorsNamingTheFile()
    {
        var output = Path.Combine(_root, "out");
        Assert.Contains("input folder not found", PrepareFails(Path.Combine(_root, "missing"), output).Message);

        var empty = Dir("empty");
        Write(empty, "notes.md", "not a corpus file");
        Assert.Contains("no .txt or .jsonl files", PrepareFails(empty, output).Message);

        var bad = Dir("badutf8");
        Write(bad, "good.txt", "fine text here");
        File.WriteAllBytes(Path.Combine(bad, "bad.txt"), new byte[] { 0x48, 0x69, 0xFF, 0xFE, 0x21 });
        var e = PrepareFails(bad, output);
        Assert.Contains("bad.txt", e.Message);
        Assert.Contains("invalid UTF-8 at byte offset 2", e.Message);

        var jl = Dir("badjsonl");
        Write(jl, "x.jsonl", "{\"text\": \"ok\"}\n{\"text\": oops}\n");
        e = PrepareFails(jl, output);
        Assert.Contains("x.jsonl:2", e.Message);
        Assert.Contains("not valid JSON", e.Message);
        Write(jl, "x.jsonl", "{\"text\": \"ok\"}\n\n{\"body\": \"no text\"}\n");
        Assert.Contains("x.jsonl:3: the JSON object has no \"text\" field", PrepareFails(jl, output).Message);
        Write(jl, "x.jsonl", "[1, 2]\n");
        Assert.Contains("x.jsonl:1: expected a JSON object", PrepareFails(jl, output).Message);
        File.WriteAllBytes(Path.Combine(jl, "x.jsonl"), Encoding.UTF8.GetBytes("{\"text\": \"ok\"}\n{\"text\": \"b").Concat(new byte[] { 0xC3, 0x28 }).Concat(Encoding.UTF8.GetBytes("\"}\n")).ToArray());
        Assert.Contains("x.jsonl:2: invalid UTF-8", PrepareFails(jl, output).Message);

        var ghost = Dir("ghost");
        Write(ghost, "real.txt", "real text");
        File.CreateSymbolicLink(Path.Combine(ghost, "gone.txt"), Path.Combine(_root, "does-not-exist.txt"));
        e = PrepareFails(ghost, output);
        Assert.Contains("gone.txt: cannot read", e.Message);

        var ok = Dir("ok");
        Write(ok, "a.txt", "Just a handful of tokens.");
        Assert.Contains("--seq-len must be at least 3", PrepareFails(ok, output, seqLen: 2).Message);
        Assert.Contains("--valid-fraction must be in [0, 1)", PrepareFails(ok, output, fraction: 1).Message);
        Assert.Contains("--valid-fraction must be in [0, 1)", PrepareFails(ok, output, fraction: -0.1).Message);
        Assert.Contains("use a smaller --seq-len", PrepareFails(ok, output, seqLen: 1024).Message);
        Assert.Contains("only one document", PrepareFails(ok, output, fraction: 0.5).Message);
        Write(ok, "b.txt", "Another handful of tokens in a second file.");
        Assert.Contains("smaller --seq-len", PrepareFails(ok, output, seqLen: 14, fraction: 0.5).Message);

        Assert.False(Directory.Exists(output)); // failed runs never leave a folder behind
    }

    [Fact]
    public void ByteOrderMarksAreNotText()
    {
        var input = Dir("in");
        File.WriteAllBytes(Path.Combine(input, "a.txt"), new UTF8Encoding(true).GetPreamble().Concat(Encoding.UTF8.GetBytes("Hello world")).ToArray());
        File.WriteAllBytes(Path.Combine(input, "b.jsonl"), new UTF8Encoding(true).GetPreamble().Concat(Encoding.UTF8.GetBytes("{\"text\":\"Hello world\"}")).ToArray());
        CorpusPreparer.Prepare(new PrepareOptions(input, Path.Combine(_root, "out"), SeqLen: 5, ValidFraction: 0));
        var data = ReadBin(Path.Combine(_root, "out", "train.bin"));
        Assert.Equal(new ushort[] { Eos, 15496, 995, Eos, Eos, Eos, 15496, 995, Eos, Eos }, data);
    }

    [Fact]
    public void FailedRunKeepsThePreviousOutputIntact()
    {
        var input = Dir("in");
        Write(input, "a.txt", "Some text for the first preparation, long enough for a few sequences of eight tokens.");
        var output = Path.Combine(_root, "out");
        CorpusPreparer.Prepare(new PrepareOptions(input, output, 8, 0));
        var before = Directory.GetFiles(output).OrderBy(f => f).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
        File.WriteAllBytes(Path.Combine(input, "b.txt"), new byte[] { 0x80 });
        PrepareFails(input, output);
        var after = Directory.GetFiles(output).OrderBy(f => f).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
        Assert.Equal(before.Select(x => x.Item1), after.Select(x => x.Item1));
        for (int i = 0; i < before.Count; i++) Assert.Equal(before[i].Item2, after[i].Item2);
    }

    [Fact]
    public void CommandLineReportsOneLineErrorAndExitCode()
    {
        var (code, _, err) = ChildProcess.Sdtt(TimeSpan.FromSeconds(60), "prepare", "--input", Path.Combine(_root, "nope"), "--output", Path.Combine(_root, "o"));
        Assert.Equal(1, code);
        Assert.Equal($"error: {Path.Combine(_root, "nope")}: input folder not found", err.Trim());
    }
}
