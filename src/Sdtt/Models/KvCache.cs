using static TorchSharp.torch;

namespace Sdtt.Models;

/// <summary>Key/value cache for autoregressive decoding: one preallocated key and one value tensor [B, H, MaxLength, hd]
/// per layer, and a length cursor. <see cref="GptModel.Forward(Tensor, KvCache?, bool)"/> writes the keys and values of the
/// new positions at [Length, Length + L) in every layer and then advances the cursor by L. The tensors are owned by the cache
/// (not by any dispose scope); dispose the cache to free them.</summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;
    private bool _disposed;

    /// <summary>Allocates a cache for <paramref name="layers"/> layers of shape [batch, heads, maxLength, headDim].</summary>
    public KvCache(int layers, long batch, int heads, long maxLength, int headDim, ScalarType dtype, Device device)
    {
        if (layers <= 0 || batch <= 0 || heads <= 0 || maxLength <= 0 || headDim <= 0)
            throw new SdttException($"invalid KV cache shape: {layers} layers, [{batch}, {heads}, {maxLength}, {headDim}]");
        Batch = batch;
        MaxLength = maxLength;
        _keys = new Tensor[layers];
        _values = new Tensor[layers];
        for (int i = 0; i < layers; i++)
        {
            _keys[i] = zeros(new[] { batch, heads, maxLength, headDim }, dtype, device).DetachFromDisposeScope();
            _values[i] = zeros(new[] { batch, heads, maxLength, headDim }, dtype, device).DetachFromDisposeScope();
        }
    }

    /// <summary>A cache sized for <paramref name="model"/> (its layers, heads and compute dtype), on the model's device.</summary>
    public static KvCache For(GptModel model, long batch, long maxLength)
    {
        var c = model.Config;
        if (maxLength > c.NPositions)
            throw new SdttException($"a KV cache of {maxLength} positions exceeds the model's n_positions {c.NPositions}");
        var dtype = model.Precision == ModelPrecision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
        return new KvCache(c.NLayers, batch, c.NHeads, maxLength, c.HeadDim, dtype, model.Device);
    }

    /// <summary>Batch size the cache was allocated for.</summary>
    public long Batch { get; private set; }
    /// <summary>Capacity in positions.</summary>
    public long MaxLength { get; }
    /// <summary>Number of positions already stored (the absolute position of the next token).</summary>
    public long Length { get; private set; }
    /// <summary>Number of layers.</summary>
    public int Layers => _keys.Length;
    /// <summary>Element type of the stored keys and values.</summary>
    public ScalarType DType => _keys[0].dtype;

    /// <summary>Writes keys/values [B, H, L, hd] of the new positions of <paramref name="layer"/> at [Length, Length + L) and
    /// returns views of all stored keys and values [B, H, Length + L, hd]. Call <see cref="Advance"/> once all layers are written.</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long l = k.shape[2];
        if (k.shape[0] != Batch) throw new SdttException($"KV cache holds batch {Batch} but got {k.shape[0]} rows");
        if (Length + l > MaxLength) throw new SdttException($"KV cache is full: {Length} + {l} positions exceed its capacity {MaxLength}");
        using (no_grad())
        {
            _keys[layer].narrow(2, Length, l).copy_(k);
            _values[layer].narrow(2, Length, l).copy_(v);
        }
        return (_keys[layer].narrow(2, 0, Length + l), _values[layer].narrow(2, 0, Length + l));
    }

    /// <summary>Moves the cursor forward after every layer has appended <paramref name="positions"/> positions.</summary>
    public void Advance(long positions)
    {
        if (positions < 0 || Length + positions > MaxLength) throw new SdttException($"cannot advance the KV cache by {positions} from {Length} (capacity {MaxLength})");
        Length += positions;
    }

    /// <summary>Keeps only the batch rows <paramref name="rows"/> (int64 indices, in the new order) of every layer, e.g. to drop
    /// finished or cancelled sequences from a batched decode; the stored positions are unchanged.</summary>
    public void SelectRows(Tensor rows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var _ = no_grad();
        for (int i = 0; i < _keys.Length; i++)
        {
            var k = _keys[i].index_select(0, rows).DetachFromDisposeScope();
            var v = _values[i].index_select(0, rows).DetachFromDisposeScope();
            _keys[i].Dispose(); _values[i].Dispose();
            _keys[i] = k; _values[i] = v;
        }
        Batch = rows.shape[0];
    }

    /// <summary>Forgets every stored position (the memory is kept for reuse).</summary>
    public void Reset() => Length = 0;

    /// <summary>Frees the cache tensors.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
