namespace Sdtt.Data;

/// <summary>Position of a <see cref="BatchSampler"/>: the epoch, the number of indices of that epoch's order already handed out,
/// and the seed. Saving it with a checkpoint and passing it to <see cref="BatchSampler.Restore"/> resumes the exact batch stream.</summary>
/// <param name="Epoch">Zero-based epoch whose order the next batch is drawn from.</param>
/// <param name="Cursor">Indices of that epoch already handed out (a multiple of the batch size except after a short last batch).</param>
/// <param name="Seed">Seed from which every epoch's order is derived.</param>
public sealed record BatchSamplerState(long Epoch, long Cursor, int Seed);

/// <summary>Yields batches of sequence indices in <c>[0, count)</c>, reshuffled every epoch. Epoch <c>e</c>'s order is a
/// Fisher–Yates permutation driven by a SplitMix64 stream seeded from (seed, e), so it is the same on every machine and .NET
/// version, and any position can be restored exactly from a <see cref="BatchSamplerState"/> without replaying earlier batches.</summary>
public sealed class BatchSampler
{
    private readonly long[] _order;
    private long _epoch;
    private long _cursor;
    private int _seed;

    /// <summary>Number of items sampled from.</summary>
    public long Count { get; }
    /// <summary>Indices per batch (the last batch of an epoch may be shorter when <see cref="DropLast"/> is false).</summary>
    public int BatchSize { get; }
    /// <summary>Whether each epoch uses a fresh permutation (otherwise 0, 1, 2, … every epoch).</summary>
    public bool Shuffle { get; }
    /// <summary>Whether an epoch's final incomplete batch is skipped.</summary>
    public bool DropLast { get; }
    /// <summary>Batches handed out per epoch.</summary>
    public long BatchesPerEpoch => DropLast ? Count / BatchSize : (Count + BatchSize - 1) / BatchSize;
    /// <summary>The current position; pass it to <see cref="Restore"/> to continue from here.</summary>
    public BatchSamplerState State => new(_epoch, _cursor, _seed);

    /// <summary>Creates a sampler positioned at the start of epoch 0.</summary>
    /// <param name="count">Number of items (e.g. <see cref="TokenDataset.Count"/>).</param>
    /// <param name="batchSize">Indices per batch.</param>
    /// <param name="seed">Seed of the per-epoch shuffles.</param>
    /// <param name="shuffle">Reshuffle every epoch (true) or keep the natural order.</param>
    /// <param name="dropLast">Skip the final incomplete batch of each epoch.</param>
    public BatchSampler(long count, int batchSize, int seed, bool shuffle = true, bool dropLast = true)
    {
        if (count <= 0) throw new SdttException($"cannot sample batches from {count} items");
        if (batchSize <= 0) throw new SdttException($"batch size must be positive (got {batchSize})");
        if (dropLast && count < batchSize)
            throw new SdttException($"the data holds {count} sequences, fewer than one batch of {batchSize}; use a smaller batch size or more data");
        if (count > Array.MaxLength) throw new SdttException($"cannot sample from {count} items (at most {Array.MaxLength})");
        Count = count;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        _order = new long[count];
        _seed = seed;
        FillOrder(0);
    }

    /// <summary>The next batch of indices; moves on to the next (reshuffled) epoch when the current one is exhausted.</summary>
    public long[] Next()
    {
        long n = Math.Min(BatchSize, Count - _cursor);
        var batch = new long[n];
        Array.Copy(_order, _cursor, batch, 0, n);
        _cursor += n;
        long need = DropLast ? BatchSize : 1;
        if (Count - _cursor < need)
        {
            _epoch++;
            _cursor = 0;
            FillOrder(_epoch);
        }
        return batch;
    }

    /// <summary>Moves to a position saved from <see cref="State"/> (of a sampler over the same count and batch size).</summary>
    public void Restore(BatchSamplerState s)
    {
        ArgumentNullException.ThrowIfNull(s);
        long need = DropLast ? BatchSize : 1;
        if (s.Epoch < 0 || s.Cursor < 0 || Count - s.Cursor < need)
            throw new SdttException($"sampler state (epoch {s.Epoch}, cursor {s.Cursor}) does not fit {Count} items in batches of {BatchSize}");
        _seed = s.Seed;
        _epoch = s.Epoch;
        _cursor = s.Cursor;
        FillOrder(_epoch);
    }

    private void FillOrder(long epoch)
    {
        for (long i = 0; i < Count; i++) _order[i] = i;
        if (!Shuffle) return;
        ulong state = Mix((ulong)(uint)_seed * 0x9E3779B97F4A7C15UL ^ Mix((ulong)epoch + 0x632BE59BD9B4E019UL));
        for (long i = Count - 1; i > 0; i--)
        {
            state += 0x9E3779B97F4A7C15UL;
            long j = (long)UniformBelow(Mix(state), (ulong)(i + 1), ref state);
            (_order[i], _order[j]) = (_order[j], _order[i]);
        }
    }

    // Lemire's nearly-divisionless bounded integer with rejection, so the permutation is unbiased.
    private static ulong UniformBelow(ulong x, ulong bound, ref ulong state)
    {
        UInt128 m = (UInt128)x * bound;
        ulong low = (ulong)m;
        if (low < bound)
        {
            ulong threshold = (0UL - bound) % bound;
            while (low < threshold)
            {
                state += 0x9E3779B97F4A7C15UL;
                x = Mix(state);
                m = (UInt128)x * bound;
                low = (ulong)m;
            }
        }
        return (ulong)(m >> 64);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
