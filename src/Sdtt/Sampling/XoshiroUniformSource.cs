using System.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>The samplers' default source of uniforms: xoshiro256** seeded through SplitMix64, filling float64 draws
/// (53 random bits, multiples of 2^-53 in [0, 1)) or float32 draws (24 bits) in managed code. It is about ten times
/// faster than libtorch's CPU generator for the [rows, 50258] blocks a sampler step needs, and it makes the same draws
/// on every device (they are made on the CPU and moved). Deterministic: the same seed and the same sequence of
/// requests give the same numbers.</summary>
public sealed class XoshiroUniformSource : IUniformSource
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>A source seeded with <paramref name="seed"/>.</summary>
    public XoshiroUniformSource(long seed)
    {
        ulong x = (ulong)seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    /// <summary>A source with the raw xoshiro256** state (not all zero), for tests against the published algorithm.</summary>
    public static XoshiroUniformSource FromState(ulong s0, ulong s1, ulong s2, ulong s3)
    {
        if ((s0 | s1 | s2 | s3) == 0) throw new ArgumentException("xoshiro256** state must not be all zero");
        var x = new XoshiroUniformSource(0);
        (x._s0, x._s1, x._s2, x._s3) = (s0, s1, s2, s3);
        return x;
    }

    /// <summary>The source of sample <paramref name="index"/> of a batch seeded with <paramref name="seed"/>: the seeded
    /// state advanced by <paramref name="index"/> jumps of 2^128 draws, so the streams of a batch never overlap and
    /// sample 0 of any batch draws exactly what a lone sample with the same seed draws.</summary>
    public static XoshiroUniformSource ForSample(long seed, int index)
    {
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index));
        var x = new XoshiroUniformSource(seed);
        for (int i = 0; i < index; i++) x.Jump();
        return x;
    }

    /// <summary>The sources of samples 0..count−1 of a batch seeded with <paramref name="seed"/> (each one jump past the
    /// previous: the same streams as <see cref="ForSample"/>, in O(count) jumps).</summary>
    public static XoshiroUniformSource[] ForBatch(long seed, int count)
    {
        var result = new XoshiroUniformSource[count];
        var x = new XoshiroUniformSource(seed);
        for (int i = 0; i < count; i++)
        {
            result[i] = FromState(x._s0, x._s1, x._s2, x._s3);
            x.Jump();
        }
        return result;
    }

    /// <summary>Advances the state by 2^128 draws (the published xoshiro256 jump polynomial).</summary>
    public void Jump()
    {
        ReadOnlySpan<ulong> jump = [0x180ec6d33cfd0abaUL, 0xd5a61266f0c9392cUL, 0xa9582618e03fc9aaUL, 0x39abdc4529b1661cUL];
        ulong s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        foreach (var word in jump)
        {
            for (int b = 0; b < 64; b++)
            {
                if ((word & (1UL << b)) != 0) { s0 ^= _s0; s1 ^= _s1; s2 ^= _s2; s3 ^= _s3; }
                Next();
            }
        }
        (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
    }

    /// <summary>The next U[0,1) double (53 random bits), as <see cref="Fill(Span{double})"/> makes them.</summary>
    public double NextDouble() => (long)(Next() >> 11) * (1.0 / (1L << 53));

    /// <summary>The next raw 64-bit output.</summary>
    public ulong NextUInt64() => Next();

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private ulong Next()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Fills <paramref name="dst"/> with U[0,1) doubles.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Fill(Span<double> dst)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = (long)(Next() >> 11) * (1.0 / (1L << 53));
    }

    /// <summary>Fills <paramref name="dst"/> with U[0,1) floats (two per 64-bit draw).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Fill(Span<float> dst)
    {
        int i = 0;
        for (; i + 1 < dst.Length; i += 2)
        {
            ulong r = Next();
            dst[i] = (r >> 40) * (1f / (1 << 24));
            dst[i + 1] = ((r >> 8) & 0xFFFFFF) * (1f / (1 << 24));
        }
        if (i < dst.Length) dst[i] = (Next() >> 40) * (1f / (1 << 24));
    }

    /// <inheritdoc />
    public Tensor Draw(Tensor rows, long batch, long length, long vocab, ScalarType dtype, Device device)
    {
        long count = rows.shape[0] * vocab;
        if (count > int.MaxValue) throw new ArgumentException("too many uniforms for one draw; draw in chunks");
        var shape = new[] { rows.shape[0], vocab };
        var u = empty(shape, dtype: dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32);
        // Tensor.bytes of a contiguous CPU tensor is a span over its storage: fill it in place.
        if (dtype == ScalarType.Float64) Fill(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(u.bytes));
        else Fill(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(u.bytes));
        if (dtype != ScalarType.Float64 && dtype != ScalarType.Float32) { var raw = u; using (raw) u = raw.to(dtype); }
        if (device.type == DeviceType.CPU) return u;
        using (u) return u.to(device);
    }
}
