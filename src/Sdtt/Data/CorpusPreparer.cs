using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

using static Sdtt.Data.CorpusReader;

namespace Sdtt.Data;

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
                PrepareManifest.Write(manifestPath, PrepareManifest.Build(options, result));
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

    private static void TryDelete(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
