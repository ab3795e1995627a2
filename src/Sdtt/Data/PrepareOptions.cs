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
