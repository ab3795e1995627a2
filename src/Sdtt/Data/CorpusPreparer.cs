using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.IO;

namespace Sdtt.Data;

/// <summary>What <see cref="CorpusPreparer.Prepare"/> reads and writes.</summary>
/// <param name="InputDir">Folder searched recursively for <c>.txt</c> (one document per file) and <c>.jsonl</c> (one JSON object
/// per line with a string field <c>text</c>; blank lines are skipped) files.</param>
/// <param name="OutputDir">Folder that receives manifest.json, train.bin and valid.bin (created if missing).</param>
/// <param name="SeqLen">Tokens per training sequence L (≥ 3): each holds [BOS] + L−2 corpus tokens + [EOS].</param>
/// <param name="ValidFraction">Expected fraction of documents in the validation split, in [0, 1); 0 writes no validation split.</param>
/// <param name="Seed">Seed of the document-level train/validation split.</param>
public sealed record PrepareOptions(string InputDir, string OutputDir, int SeqLen = 1024, double ValidFraction = 0.05, int Seed = 0)
{
    /// <summary>Threads that tokenise documents concurrently (the output does not depend on it).</summary>
    public int MaxParallelism { get; init; } = Environment.ProcessorCount;
}

/// <summary>Counts of one written split.</summary>
/// <param name="Name">"train" or "valid".</param>
/// <param name="File">File name inside the output folder.</param>
/// <param name="Documents">Documents assigned to the split.</param>
/// <param name="DocumentTokens">Their GPT-2 tokens, one EOS per document included.</param>
/// <param name="Sequences">Framed sequences written.</param>
/// <param name="Tokens">Tokens written (<c>Sequences × SeqLen</c>, framing included).</param>
/// <param name="DroppedTokens">Trailing document tokens that did not fill a last chunk.</param>
/// <param name="Sha256">SHA-256 of the written file (lower-case hex).</param>
public sealed record PreparedSplit(string Name, string File, long Documents, long DocumentTokens, long Sequences, long Tokens,
    long DroppedTokens, string Sha256);

/// <summary>One input file as recorded in the manifest.</summary>
/// <param name="Path">Path relative to the input folder, with '/' separators.</param>
/// <param name="Bytes">File size.</param>
/// <param name="Sha256">SHA-256 of the file (lower-case hex).</param>
/// <param name="Documents">Documents read from it.</param>
public sealed record PreparedSource(string Path, long Bytes, string Sha256, long Documents);

/// <summary>Result of <see cref="CorpusPreparer.Prepare"/>.</summary>
/// <param name="OutputDir">The written folder.</param>
/// <param name="SeqLen">Tokens per sequence.</param>
/// <param name="Sources">Input files in processing (ordinal path) order.</param>
/// <param name="Train">The training split.</param>
/// <param name="Valid">The validation split, or null when <see cref="PrepareOptions.ValidFraction"/> is 0.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record PrepareResult(string OutputDir, int SeqLen, IReadOnlyList<PreparedSource> Sources, PreparedSplit Train,
    PreparedSplit? Valid, TimeSpan Elapsed)
{
    /// <summary>Documents in both splits.</summary>
    public long Documents => Train.Documents + (Valid?.Documents ?? 0);
    /// <summary>Document tokens (with EOS) in both splits.</summary>
    public long DocumentTokens => Train.DocumentTokens + (Valid?.DocumentTokens ?? 0);
    /// <summary>Bytes of input read.</summary>
    public long SourceBytes => Sources.Sum(s => s.Bytes);
    /// <summary>Document tokens per second of wall time.</summary>
    public double TokensPerSecond => DocumentTokens / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>Progress of a preparation run.</summary>
/// <param name="FilesDone">Input files fully processed.</param>
/// <param name="FilesTotal">Input files found.</param>
/// <param name="BytesDone">Bytes of the files processed so far.</param>
/// <param name="BytesTotal">Bytes of all input files.</param>
/// <param name="Tokens">Document tokens produced so far.</param>
/// <param name="Elapsed">Time since the start.</param>
public sealed record PrepareProgress(int FilesDone, int FilesTotal, long BytesDone, long BytesTotal, long Tokens, TimeSpan Elapsed);

/// <summary>Turns a folder of text into the token files read by <see cref="TokenDataset"/>, with the reference's wrapping
/// (reference B.5): each document → GPT-2 tokens (no special tokens) + [EOS]; the documents of a split are concatenated in a
/// fixed order, cut into chunks of L−2 tokens, and each chunk is written as [BOS] chunk [EOS] (L tokens); the trailing remainder
/// is dropped. The train/validation split is by document, from a hash of (seed, relative path, line number), so it does not
/// depend on file-system order. Tokenisation runs in parallel; the output is identical for any degree of parallelism.
/// Outputs are written through temp files and renamed, manifest last, so a failed run leaves no usable half-written folder.</summary>
public static class CorpusPreparer
{
    /// <summary>Name of the training token file.</summary>
    public const string TrainFile = "train.bin";
    /// <summary>Name of the validation token file.</summary>
    public const string ValidFile = "valid.bin";
    private const string TempSuffix = ".sdtt-tmp";
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private sealed record SourceFile(int Index, string FullPath, string RelPath, long Bytes, bool Jsonl);
    private readonly record struct Document(int FileIndex, long Line, string Text);
    private readonly record struct SplitKey(string RelPath, long Line);

    /// <summary>Runs the preparation. <paramref name="progress"/> is called on the calling thread, at most every ~100 ms.</summary>
    /// <exception cref="SdttException">For every bad input: missing folder, no files, unreadable file, invalid UTF-8, bad JSONL
    /// line, bad option, or a split too small to hold one sequence.</exception>
    public static PrepareResult Prepare(PrepareOptions options, IProgress<PrepareProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.SeqLen < 3) throw new SdttException($"--seq-len must be at least 3 (BOS + one token + EOS), got {options.SeqLen}");
        if (options.SeqLen > 1 << 24) throw new SdttException($"--seq-len {options.SeqLen} is too large");
        if (!(options.ValidFraction >= 0 && options.ValidFraction < 1))
            throw new SdttException($"--valid-fraction must be in [0, 1), got {options.ValidFraction}");
        var sw = Stopwatch.StartNew();
        var files = FindSources(options.InputDir);
        var outDir = options.OutputDir;
        if (File.Exists(outDir)) throw new SdttException($"{outDir}: output path is a file, not a folder");
        bool created = !Directory.Exists(outDir);
        try { Directory.CreateDirectory(outDir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new SdttException($"{outDir}: cannot create the output folder ({e.Message})"); }

        bool withValid = options.ValidFraction > 0;
        var trainTmp = Path.Combine(outDir, TrainFile + TempSuffix);
        var validTmp = Path.Combine(outDir, ValidFile + TempSuffix);
        bool success = false;
        try
        {
            var overrides = new Dictionary<SplitKey, bool>();
            while (true)
            {
                var pass = RunPass(options, files, overrides, trainTmp, withValid ? validTmp : null, sw, progress, cancel);
                long docs = pass.Train.Documents + (pass.Valid?.Documents ?? 0);
                if (docs == 0) throw new SdttException($"{options.InputDir}: the .txt/.jsonl files hold no documents");
                if (withValid && (pass.Train.Documents == 0 || pass.Valid!.Documents == 0))
                {
                    if (docs < 2)
                        throw new SdttException($"{options.InputDir}: only one document, which cannot be split into train and validation (which `sdtt train` and `sdtt distill` need); add documents, e.g. split the text into several files");
                    if (overrides.Count > 0) throw new InvalidOperationException("split rebalancing did not converge");
                    // Move the document nearest the threshold so both splits hold at least one; deterministic, then redo.
                    if (pass.Valid!.Documents == 0) overrides[pass.LowestTrain!.Value] = true;
                    else overrides[pass.HighestValid!.Value] = false;
                    continue;
                }
                int chunk = options.SeqLen - 2;
                if (pass.Train.Sequences == 0)
                    throw new SdttException($"{options.InputDir}: the training split has {pass.Train.DocumentTokens} tokens, fewer than one sequence ({chunk} tokens + BOS/EOS); use a smaller --seq-len");
                if (pass.Valid is { Sequences: 0 })
                    throw new SdttException($"{options.InputDir}: the validation split has {pass.Valid.DocumentTokens} tokens, fewer than one sequence ({chunk} tokens + BOS/EOS); use a smaller --seq-len or a larger --valid-fraction");

                var manifestPath = Path.Combine(outDir, TokenDataset.ManifestFile);
                if (File.Exists(manifestPath)) File.Delete(manifestPath);
                File.Move(trainTmp, Path.Combine(outDir, TrainFile), overwrite: true);
                var validPath = Path.Combine(outDir, ValidFile);
                if (withValid) File.Move(validTmp, validPath, overwrite: true);
                else if (File.Exists(validPath)) File.Delete(validPath);
                var result = new PrepareResult(outDir, options.SeqLen, pass.Sources, pass.Train, pass.Valid, sw.Elapsed);
                WriteManifest(manifestPath, Manifest(options, result));
                success = true;
                return result;
            }
        }
        finally
        {
            if (!success)
            {
                TryDelete(trainTmp);
                TryDelete(validTmp);
                if (created) try { if (!Directory.EnumerateFileSystemEntries(outDir).Any()) Directory.Delete(outDir); } catch (IOException) { }
            }
        }
    }

    /// <summary>The split a document goes to without rebalancing: true for validation. Uniform u from SHA-256 of
    /// (seed, relative path, line) compared with the fraction; <paramref name="line"/> is 0 for a .txt file and the 1-based line
    /// number for a .jsonl record.</summary>
    public static bool IsValidation(int seed, string relativePath, long line, double validFraction) =>
        SplitValue(seed, relativePath, line) < validFraction;

    private static double SplitValue(int seed, string relPath, long line)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"sdtt-split\n{seed}\n{relPath}\n{line}"), digest);
        return (BinaryPrimitives.ReadUInt64LittleEndian(digest) >> 11) * (1.0 / (1UL << 53));
    }

    private static List<SourceFile> FindSources(string inputDir)
    {
        if (!Directory.Exists(inputDir)) throw new SdttException($"{inputDir}: input folder not found");
        var root = Path.GetFullPath(inputDir);
        var found = new List<(string Full, string Rel)>();
        try
        {
            var opts = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false, MatchType = MatchType.Simple };
            foreach (var f in Directory.EnumerateFiles(root, "*", opts))
            {
                var ext = Path.GetExtension(f);
                if (!ext.Equals(".txt", StringComparison.OrdinalIgnoreCase) && !ext.Equals(".jsonl", StringComparison.OrdinalIgnoreCase)) continue;
                found.Add((f, Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/')));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SdttException($"{inputDir}: cannot list the input folder ({e.Message})");
        }
        if (found.Count == 0) throw new SdttException($"{inputDir}: no .txt or .jsonl files found (searched recursively)");
        found.Sort((a, b) => string.CompareOrdinal(a.Rel, b.Rel));
        return found.Select((f, i) => new SourceFile(i, f.Full, f.Rel, new FileInfo(f.Full).Length,
            Path.GetExtension(f.Full).Equals(".jsonl", StringComparison.OrdinalIgnoreCase))).ToList();
    }

    private sealed record PassResult(PreparedSplit Train, PreparedSplit? Valid, IReadOnlyList<PreparedSource> Sources,
        SplitKey? LowestTrain, SplitKey? HighestValid);

    private static PassResult RunPass(PrepareOptions o, List<SourceFile> files, Dictionary<SplitKey, bool> overrides,
        string trainTmp, string? validTmp, Stopwatch sw, IProgress<PrepareProgress>? progress, CancellationToken cancel)
    {
        var sources = new PreparedSource[files.Count];
        long bytesTotal = files.Sum(f => f.Bytes);
        using var train = new SplitWriter("train", TrainFile, trainTmp, o.SeqLen);
        using var valid = validTmp is null ? null : new SplitWriter("valid", ValidFile, validTmp, o.SeqLen);
        SplitKey? lowestTrain = null, highestValid = null;
        double lowestTrainU = double.MaxValue, highestValidU = double.MinValue;
        long tokens = 0, bytesDone = 0;
        int filesDone = 0;
        var lastReport = TimeSpan.Zero;
        var tokenizer = Gpt2Tokenizer.Instance;

        var docs = ReadDocuments(files, sources, cancel);
        var tokenized = o.MaxParallelism <= 1
            ? docs.Select(d => (Doc: d, Tokens: tokenizer.Encode(d.Text)))
            : docs.AsParallel().AsOrdered().WithDegreeOfParallelism(Math.Min(o.MaxParallelism, 64)).WithCancellation(cancel)
                .Select(d => (Doc: d, Tokens: tokenizer.Encode(d.Text)));
        try
        {
            foreach (var (doc, ids) in tokenized)
            {
                var file = files[doc.FileIndex];
                while (filesDone < doc.FileIndex) bytesDone += files[filesDone++].Bytes;
                var key = new SplitKey(file.RelPath, doc.Line);
                double u = SplitValue(o.Seed, file.RelPath, doc.Line);
                bool toValid = valid is not null && (overrides.TryGetValue(key, out var forced) ? forced : u < o.ValidFraction);
                if (toValid)
                {
                    valid!.Add(ids);
                    if (u > highestValidU) { highestValidU = u; highestValid = key; }
                }
                else
                {
                    train.Add(ids);
                    if (u < lowestTrainU) { lowestTrainU = u; lowestTrain = key; }
                }
                tokens += ids.Length + 1;
                if (progress is not null && sw.Elapsed - lastReport > TimeSpan.FromMilliseconds(100))
                {
                    lastReport = sw.Elapsed;
                    progress.Report(new PrepareProgress(filesDone, files.Count, bytesDone, bytesTotal, tokens, sw.Elapsed));
                }
            }
        }
        catch (AggregateException ae) when (ae.InnerExceptions.Count > 0)
        {
            var first = ae.Flatten().InnerExceptions.FirstOrDefault(e => e is SdttException) ?? ae.Flatten().InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        progress?.Report(new PrepareProgress(files.Count, files.Count, bytesTotal, bytesTotal, tokens, sw.Elapsed));
        return new PassResult(train.Finish(), valid?.Finish(), sources, lowestTrain, highestValid);
    }

    /// <summary>Documents of all files in ordinal path order; fills <paramref name="sources"/> as each file is finished.</summary>
    private static IEnumerable<Document> ReadDocuments(List<SourceFile> files, PreparedSource[] sources, CancellationToken cancel)
    {
        foreach (var f in files)
        {
            cancel.ThrowIfCancellationRequested();
            if (!f.Jsonl)
            {
                byte[] bytes;
                try { bytes = File.ReadAllBytes(f.FullPath); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Unreadable(f, e); }
                var text = Decode(bytes, f, 0, 0);
                sources[f.Index] = new PreparedSource(f.RelPath, bytes.LongLength, Convert.ToHexStringLower(SHA256.HashData(bytes)), 1);
                yield return new Document(f.Index, 0, text);
                continue;
            }
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long count = 0, size = 0;
            foreach (var (lineNo, lineBytes, lineStart) in ReadLines(f, sha, b => size += b))
            {
                var line = Decode(lineBytes, f, lineNo, lineStart);
                if (string.IsNullOrWhiteSpace(line)) continue;
                count++;
                yield return new Document(f.Index, lineNo, ParseJsonlText(line, f, lineNo));
            }
            sources[f.Index] = new PreparedSource(f.RelPath, size, Convert.ToHexStringLower(sha.GetHashAndReset()), count);
        }
    }

    /// <summary>Splits a file into lines on '\n' (a trailing '\r' is removed), hashing every byte read.</summary>
    private static IEnumerable<(long LineNo, byte[] Bytes, long Offset)> ReadLines(SourceFile f, IncrementalHash sha, Action<int> onRead)
    {
        FileStream fs;
        try { fs = new FileStream(f.FullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Unreadable(f, e); }
        using (fs)
        {
            var buf = new byte[1 << 20];
            var pending = new MemoryStream();
            long lineNo = 1, offset = 0, lineStart = 0;
            while (true)
            {
                int n;
                try { n = fs.Read(buf, 0, buf.Length); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Unreadable(f, e); }
                if (n == 0) break;
                sha.AppendData(buf, 0, n);
                onRead(n);
                int start = 0;
                for (int i = 0; i < n; i++)
                {
                    if (buf[i] != (byte)'\n') continue;
                    pending.Write(buf, start, i - start);
                    yield return (lineNo++, TrimCr(pending), lineStart);
                    pending.SetLength(0);
                    start = i + 1;
                    lineStart = offset + i + 1;
                }
                pending.Write(buf, start, n - start);
                offset += n;
            }
            if (pending.Length > 0) yield return (lineNo, TrimCr(pending), lineStart);
        }
    }

    private static byte[] TrimCr(MemoryStream ms)
    {
        var a = ms.ToArray();
        return a.Length > 0 && a[^1] == (byte)'\r' ? a[..^1] : a;
    }

    private static string Decode(byte[] bytes, SourceFile f, long lineNo, long offset)
    {
        try
        {
            var s = StrictUtf8.GetString(bytes);
            return (lineNo <= 1 && s.Length > 0 && s[0] == '\uFEFF') ? s[1..] : s; // a leading byte-order mark is not text
        }
        catch (DecoderFallbackException e)
        {
            long at = offset + Math.Max(e.Index, 0);
            throw new SdttException(lineNo > 0
                ? $"{f.FullPath}:{lineNo}: invalid UTF-8 (byte offset {at})"
                : $"{f.FullPath}: invalid UTF-8 at byte offset {at}");
        }
    }

    private static string ParseJsonlText(string line, SourceFile f, long lineNo)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SdttException($"{f.FullPath}:{lineNo}: expected a JSON object with a \"text\" field, got {doc.RootElement.ValueKind}");
            if (!doc.RootElement.TryGetProperty("text", out var text))
                throw new SdttException($"{f.FullPath}:{lineNo}: the JSON object has no \"text\" field");
            if (text.ValueKind != JsonValueKind.String)
                throw new SdttException($"{f.FullPath}:{lineNo}: \"text\" is {text.ValueKind}, expected a string");
            return text.GetString()!;
        }
        catch (JsonException e)
        {
            throw new SdttException($"{f.FullPath}:{lineNo}: not valid JSON ({e.Message.Split('\n')[0]})");
        }
    }

    private static SdttException Unreadable(SourceFile f, Exception e) => new($"{f.FullPath}: cannot read ({e.Message})");

    private static void TryDelete(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static void WriteManifest(string path, JsonObject manifest)
    {
        var json = manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        AtomicFile.WriteAllText(path, json + "\n");
    }

    private static JsonObject Manifest(PrepareOptions o, PrepareResult r)
    {
        JsonObject Split(PreparedSplit s) => new()
        {
            ["file"] = s.File,
            ["sequences"] = s.Sequences,
            ["tokens"] = s.Tokens,
            ["documents"] = s.Documents,
            ["document_tokens"] = s.DocumentTokens,
            ["dropped_tokens"] = s.DroppedTokens,
            ["bytes"] = s.Tokens * 2,
            ["sha256"] = s.Sha256,
        };
        var splits = new JsonObject { ["train"] = Split(r.Train) };
        if (r.Valid is not null) splits["valid"] = Split(r.Valid);
        var sources = new JsonArray();
        foreach (var s in r.Sources)
            sources.Add(new JsonObject { ["path"] = s.Path, ["bytes"] = s.Bytes, ["sha256"] = s.Sha256, ["documents"] = s.Documents });
        return new JsonObject
        {
            ["format"] = "sdtt-tokens",
            ["format_version"] = 1,
            ["tokenizer"] = "gpt2",
            ["encoding"] = "r50k_base",
            ["seq_len"] = o.SeqLen,
            ["dtype"] = "uint16",
            ["byte_order"] = "little",
            ["bos_id"] = Gpt2Tokenizer.Bos,
            ["eos_id"] = Gpt2Tokenizer.Eos,
            ["mask_id"] = Gpt2Tokenizer.Mask,
            ["vocab_size"] = Gpt2Tokenizer.ModelVocabSize,
            ["wrapping"] = "each document -> GPT-2 tokens (no special tokens) + [EOS]; documents concatenated per split in path/line order; cut into seq_len-2 token chunks, each framed [BOS] chunk [EOS]; trailing remainder dropped",
            ["split"] = new JsonObject
            {
                ["by"] = "document",
                ["rule"] = "sha256(\"sdtt-split\\n{seed}\\n{relative path}\\n{line}\") < valid_fraction (line 0 for .txt), at least one document per split",
                ["seed"] = o.Seed,
                ["valid_fraction"] = o.ValidFraction,
            },
            ["documents"] = r.Documents,
            ["document_tokens"] = r.DocumentTokens,
            ["dropped_tokens"] = r.Train.DroppedTokens + (r.Valid?.DroppedTokens ?? 0),
            ["splits"] = splits,
            ["source_root"] = Path.GetFullPath(o.InputDir),
            ["source_files"] = r.Sources.Count,
            ["source_bytes"] = r.SourceBytes,
            ["sources"] = sources,
        };
    }

    /// <summary>Concatenates documents and writes framed chunks of one split to a temp file.</summary>
    private sealed class SplitWriter : IDisposable
    {
        private readonly FileStream _fs;
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly int _seqLen;
        private readonly int[] _pending;
        private readonly byte[] _out;
        private int _count;
        private long _documents, _documentTokens, _sequences;
        private readonly string _name, _file;

        public SplitWriter(string name, string file, string tmpPath, int seqLen)
        {
            _name = name;
            _file = file;
            _seqLen = seqLen;
            _pending = new int[seqLen - 2];
            _out = new byte[2 * seqLen];
            try { _fs = new FileStream(tmpPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new SdttException($"{tmpPath}: cannot write ({e.Message})"); }
        }

        public void Add(int[] ids)
        {
            _documents++;
            _documentTokens += ids.Length + 1;
            foreach (var id in ids) Push(id);
            Push(Gpt2Tokenizer.Eos);
        }

        private void Push(int id)
        {
            _pending[_count++] = id;
            if (_count < _pending.Length) return;
            BinaryPrimitives.WriteUInt16LittleEndian(_out, Gpt2Tokenizer.Bos);
            for (int i = 0; i < _pending.Length; i++)
            {
                int t = _pending[i];
                if ((uint)t > ushort.MaxValue) throw new InvalidOperationException($"token id {t} does not fit uint16");
                BinaryPrimitives.WriteUInt16LittleEndian(_out.AsSpan(2 * (i + 1)), (ushort)t);
            }
            BinaryPrimitives.WriteUInt16LittleEndian(_out.AsSpan(2 * (_seqLen - 1)), Gpt2Tokenizer.Eos);
            _fs.Write(_out);
            _sha.AppendData(_out);
            _sequences++;
            _count = 0;
        }

        public PreparedSplit Finish()
        {
            _fs.Flush(flushToDisk: true);
            return new PreparedSplit(_name, _file, _documents, _documentTokens, _sequences, _sequences * _seqLen, _count,
                Convert.ToHexStringLower(_sha.GetHashAndReset()));
        }

        public void Dispose()
        {
            _fs.Dispose();
            _sha.Dispose();
        }
    }
}
