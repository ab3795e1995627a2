using System.IO.MemoryMappedFiles;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;
using Sdtt.IO;

namespace Sdtt.Data;

/// <summary>A prepared token split: <c>{split}.bin</c> holds <see cref="Count"/> sequences of <see cref="SeqLen"/> GPT-2 ids as
/// little-endian uint16, back to back (each sequence already framed [BOS] chunk [EOS] by <c>sdtt prepare</c>).
/// The folder's <c>manifest.json</c> records the tokenizer, sequence length and counts. Memory-mapped; random access.</summary>
public sealed unsafe class TokenDataset : IDisposable
{
    /// <summary>Name of the manifest file in a prepared data folder.</summary>
    public const string ManifestFile = "manifest.json";

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly ushort* _data;

    /// <summary>Path of the .bin file.</summary>
    public string Path { get; }
    /// <summary>Tokens per sequence.</summary>
    public int SeqLen { get; }
    /// <summary>Number of sequences.</summary>
    public long Count { get; }

    private TokenDataset(string path, int seqLen)
    {
        Path = path;
        SeqLen = seqLen;
        long bytes = new FileInfo(path).Length;
        if (bytes % (2L * seqLen) != 0) throw new SdttException($"{path}: size {bytes} is not a whole number of {seqLen}-token sequences");
        Count = bytes / (2L * seqLen);
        if (Count == 0) throw new SdttException($"{path}: holds no sequences");
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, bytes, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _data = (ushort*)(p + _view.PointerOffset);
    }

    /// <summary>Opens split <paramref name="split"/> ("train" or "valid") of a folder written by <c>sdtt prepare</c>.</summary>
    public static TokenDataset Open(string dataDir, string split)
    {
        var manifestPath = System.IO.Path.Combine(dataDir, ManifestFile);
        if (!Directory.Exists(dataDir)) throw new SdttException($"{dataDir}: data folder not found (create it with `sdtt prepare`)");
        if (!File.Exists(manifestPath)) throw new SdttException($"{dataDir}: no {ManifestFile}; prepare the folder with `sdtt prepare --input TEXT_DIR --output {dataDir}`");
        JsonObject m;
        try { m = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new SdttException($"{manifestPath}: not valid JSON ({e.Message})"); }
        int seqLen = m["seq_len"]?.GetValue<int>() ?? throw new SdttException($"{manifestPath}: no seq_len");
        var file = m["splits"]?[split]?["file"]?.GetValue<string>() ?? $"{split}.bin";
        var path = System.IO.Path.Combine(dataDir, file);
        if (!File.Exists(path)) throw new SdttException($"{dataDir}: split '{split}' is missing ({file})");
        return new TokenDataset(path, seqLen);
    }

    /// <summary>Opens a .bin file directly.</summary>
    public static TokenDataset OpenFile(string path, int seqLen) =>
        File.Exists(path) ? new TokenDataset(path, seqLen) : throw new SdttException($"{path}: file not found");

    /// <summary>Copies sequence <paramref name="index"/> into <paramref name="dst"/> (length ≥ <see cref="SeqLen"/>).</summary>
    public void Read(long index, Span<long> dst)
    {
        if ((ulong)index >= (ulong)Count) throw new ArgumentOutOfRangeException(nameof(index));
        var src = new ReadOnlySpan<ushort>(_data + index * SeqLen, SeqLen);
        for (int i = 0; i < SeqLen; i++) dst[i] = src[i];
    }

    /// <summary>Throws one line naming <paramref name="model"/> when the first 256 sequences hold a token id that does not
    /// fit a diffusion vocabulary of <paramref name="vocabSize"/> (whose last id is MASK), before any long work.</summary>
    public void RequireVocabulary(int vocabSize, string model)
    {
        var buf = new long[SeqLen];
        for (long i = 0; i < Math.Min(Count, 256); i++)
        {
            Read(i, buf);
            foreach (var t in buf)
                if (t >= vocabSize - 1) throw new SdttException($"the data holds token id {t}, which does not fit {model} vocabulary of {vocabSize} (ids must be < {vocabSize - 1}, the last id is MASK)");
        }
    }

    /// <summary>A batch [indices.Length, SeqLen] int64 tensor on <paramref name="device"/>.</summary>
    public Tensor Batch(IReadOnlyList<long> indices, Device? device = null)
    {
        var buf = new long[indices.Count * SeqLen];
        for (int i = 0; i < indices.Count; i++) Read(indices[i], buf.AsSpan(i * SeqLen, SeqLen));
        var t = tensor(buf, new long[] { indices.Count, SeqLen });
        if (device is null || device.type == DeviceType.CPU) return t;
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }

    /// <summary>Writes sequences as a .bin file atomically (temp file, then rename).</summary>
    public static void Write(string path, IEnumerable<int[]> sequences, int seqLen)
    {
        AtomicFile.Write(path, fs =>
        {
            using var w = new BinaryWriter(fs, System.Text.Encoding.UTF8, leaveOpen: true);
            foreach (var s in sequences)
            {
                if (s.Length != seqLen) throw new ArgumentException($"sequence of length {s.Length}, expected {seqLen}");
                foreach (var id in s)
                {
                    if (id < 0 || id > ushort.MaxValue) throw new ArgumentException($"token id {id} does not fit uint16");
                    w.Write((ushort)id);
                }
            }
        });
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
