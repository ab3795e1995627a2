namespace Sdtt.Distributed;

/// <summary>The collective operations data-parallel training needs, over a group of <see cref="Size"/> processes ("ranks").
/// <see cref="SingleProcessCommunicator"/> is the one-process group (every call is a no-op); <see cref="MpiCommunicator"/> runs
/// them with Open MPI on host memory. A device-side implementation (NCCL on CUDA buffers) can fill the same interface.
/// Every rank must make the same calls in the same order with the same lengths (MPI's collective rule).</summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's index in the group (0 .. <see cref="Size"/> − 1).</summary>
    int Rank { get; }
    /// <summary>Number of processes in the group.</summary>
    int Size { get; }
    /// <summary>Short description for logs ("single process", "Open MPI 4.1.4, rank 0 of 2").</summary>
    string Description { get; }
    /// <summary>Element-wise sum over all ranks, in place: on return every rank holds the same sums.</summary>
    void AllReduceSum(Span<float> values);
    /// <summary>Element-wise sum over all ranks, in place (double precision: losses, metrics).</summary>
    void AllReduceSum(Span<double> values);
    /// <summary>Overwrites <paramref name="bytes"/> on every rank with <paramref name="root"/>'s copy.</summary>
    void Broadcast(Span<byte> bytes, int root = 0);
    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();
}

/// <summary>Helpers over <see cref="ICommunicator"/>.</summary>
public static class CommunicatorExtensions
{
    /// <summary>Whether this rank is rank 0, the only one that writes checkpoints, logs, plots and model folders.</summary>
    public static bool IsRoot(this ICommunicator c) => c.Rank == 0;

    /// <summary>The sum over ranks of one value (every rank gets the same result).</summary>
    public static double Sum(this ICommunicator c, double value)
    {
        if (c.Size == 1) return value;
        Span<double> v = stackalloc double[] { value };
        c.AllReduceSum(v);
        return v[0];
    }

    /// <summary>The mean over ranks of one value (every rank gets the same result).</summary>
    public static double Average(this ICommunicator c, double value)
    {
        if (c.Size == 1) return value;
        Span<double> v = stackalloc double[] { value };
        c.AllReduceSum(v);
        return v[0] / c.Size;
    }

    /// <summary>The mean over ranks of each value of <paramref name="values"/> (every rank must hold the same keys).</summary>
    public static Dictionary<string, double> AverageEach(this ICommunicator c, IReadOnlyDictionary<string, double> values)
    {
        if (c.Size == 1) return new Dictionary<string, double>(values);
        var keys = values.Keys.Order(StringComparer.Ordinal).ToArray();
        var v = keys.Select(k => values[k]).ToArray();
        if (c.Size > 1)
        {
            c.AllReduceSum(v);
            for (int i = 0; i < v.Length; i++) v[i] /= c.Size;
        }
        return keys.Zip(v).ToDictionary(kv => kv.First, kv => kv.Second);
    }
}
