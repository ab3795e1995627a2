using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.IO;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements.</summary>
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>A read-only, memory-mapped safetensors file. Tensors are copied out one at a time, so loading a large
/// checkpoint never holds two copies of the whole file in memory.</summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    private static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly long _dataStart;

    /// <summary>The file's path.</summary>
    public string Path { get; }
    /// <summary>Entries by name, in file order.</summary>
    public IReadOnlyDictionary<string, SafeTensorInfo> Entries { get; }
    /// <summary>The optional <c>__metadata__</c> string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates a file; throws <see cref="SdttException"/> naming the file and the problem.</summary>
    public SafeTensorsFile(string path)
    {
        Path = path;
        if (!File.Exists(path)) throw new SdttException($"{path}: file not found");
        long length = new FileInfo(path).Length;
        if (length < 8) throw new SdttException($"{path}: not a safetensors file (too short)");
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
        try
        {
            ulong headerLen = *(ulong*)_base;
            if (headerLen == 0 || headerLen > (ulong)(length - 8) || headerLen > 100_000_000)
                throw new SdttException($"{path}: invalid safetensors header length {headerLen}");
            _dataStart = 8 + (long)headerLen;
            var json = Encoding.UTF8.GetString(new ReadOnlySpan<byte>(_base + 8, (int)headerLen));
            (Entries, Metadata) = ParseHeader(path, json, length - _dataStart);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(string path, string json, long dataLength)
    {
        JsonObject root;
        try { root = JsonNode.Parse(json)?.AsObject() ?? throw new JsonException("empty"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        { throw new SdttException($"{path}: safetensors header is not valid JSON ({e.Message})"); }
        var entries = new Dictionary<string, SafeTensorInfo>();
        var meta = new Dictionary<string, string>();
        foreach (var (name, node) in root)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject m) foreach (var (k, v) in m) meta[k] = v?.ToString() ?? "";
                continue;
            }
            if (node is not JsonObject o) throw new SdttException($"{path}: entry '{name}' is not an object");
            string dtype = o["dtype"]?.GetValue<string>() ?? throw new SdttException($"{path}: '{name}' has no dtype");
            if (!DTypes.TryGetValue(dtype, out var dt)) throw new SdttException($"{path}: '{name}' has unsupported dtype {dtype}");
            var shape = (o["shape"] as JsonArray)?.Select(x => x!.GetValue<long>()).ToArray()
                        ?? throw new SdttException($"{path}: '{name}' has no shape");
            var offs = (o["data_offsets"] as JsonArray)?.Select(x => x!.GetValue<long>()).ToArray();
            if (offs is null || offs.Length != 2) throw new SdttException($"{path}: '{name}' has no valid data_offsets");
            if (shape.Any(d => d < 0)) throw new SdttException($"{path}: '{name}' has a negative dimension");
            var info = new SafeTensorInfo(name, dtype, shape, offs[0], offs[1]);
            if (offs[0] < 0 || offs[1] < offs[0] || offs[1] > dataLength)
                throw new SdttException($"{path}: '{name}' data_offsets [{offs[0]}, {offs[1]}] fall outside the {dataLength}-byte data section");
            if (offs[1] - offs[0] != info.NumElements * dt.Size)
                throw new SdttException($"{path}: '{name}' holds {offs[1] - offs[0]} bytes but {dtype}{FormatShape(shape)} needs {info.NumElements * dt.Size}");
            entries[name] = info;
        }
        var sorted = entries.Values.OrderBy(e => e.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].Begin < sorted[i - 1].End && sorted[i].End > sorted[i].Begin)
                throw new SdttException($"{path}: tensors '{sorted[i - 1].Name}' and '{sorted[i].Name}' overlap");
        return (entries, meta);
    }

    internal static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Maps a safetensors dtype name to a TorchSharp scalar type.</summary>
    public static ScalarType ToScalarType(string dtype) => DTypes.TryGetValue(dtype, out var d) ? d.Type : throw new SdttException($"unsupported dtype {dtype}");

    /// <summary>Maps a TorchSharp scalar type to its safetensors dtype name.</summary>
    public static string ToDTypeName(ScalarType type) => DTypes.FirstOrDefault(kv => kv.Value.Type == type).Key
        ?? throw new SdttException($"dtype {type} cannot be stored in safetensors");

    /// <summary>Copies a tensor out of the file, converting it to <paramref name="dtype"/> when given.</summary>
    public Tensor Load(string name, ScalarType? dtype = null, Device? device = null)
    {
        if (!Entries.TryGetValue(name, out var e)) throw new SdttException($"{Path}: no tensor named '{name}'");
        var t = empty(e.Shape, ToScalarType(e.DType));
        long n = e.End - e.Begin;
        if (n > 0)
        {
            var dst = t.bytes; // a view of the native buffer of a fresh contiguous CPU tensor
            if (dst.Length != n) throw new InvalidOperationException("unexpected tensor byte size");
            long done = 0;
            while (done < n)
            {
                int chunk = (int)Math.Min(1 << 30, n - done);
                new ReadOnlySpan<byte>(_base + _dataStart + e.Begin + done, chunk).CopyTo(dst.Slice((int)done, chunk));
                done += chunk;
            }
        }
        if ((dtype is { } want && want != t.dtype) || (device is not null && device.type != DeviceType.CPU))
        {
            var converted = t.to(dtype ?? t.dtype, device ?? CPU);
            t.Dispose();
            return converted;
        }
        return t;
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}

/// <summary>Writes safetensors files atomically (temp file, then rename).</summary>
public static class SafeTensorsWriter
{
    /// <summary>Writes tensors (sorted by name, like the reference writer) and optional metadata.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var m = new JsonObject();
            foreach (var (k, v) in metadata) m[k] = v;
            header["__metadata__"] = m;
        }
        long offset = 0;
        foreach (var (name, t) in list)
        {
            long bytes = t.NumberOfElements * t.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = SafeTensorsFile.ToDTypeName(t.dtype),
                ["shape"] = new JsonArray(t.shape.Select(d => (JsonNode)JsonValue.Create(d)!).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (headerBytes.Length + 7) / 8 * 8;
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BitConverter.TryWriteBytes(len, (ulong)padded);
            fs.Write(len);
            fs.Write(headerBytes);
            for (int i = headerBytes.Length; i < padded; i++) fs.WriteByte((byte)' ');
            foreach (var (_, t) in list)
            {
                using var c = t.detach().cpu().contiguous();
                fs.Write(c.bytes);
            }
        }, flushToDisk: true);
    }
}
