namespace Sdtt.Distributed;

/// <summary>The group of one process: rank 0 of 1, every collective leaves its buffer as it is. Needs no MPI library.</summary>
public sealed class SingleProcessCommunicator : ICommunicator
{
    /// <summary>The shared instance.</summary>
    public static SingleProcessCommunicator Instance { get; } = new();

    private SingleProcessCommunicator() { }

    /// <inheritdoc />
    public int Rank => 0;
    /// <inheritdoc />
    public int Size => 1;
    /// <inheritdoc />
    public string Description => "single process";
    /// <inheritdoc />
    public void AllReduceSum(Span<float> values) { }
    /// <inheritdoc />
    public void AllReduceSum(Span<double> values) { }
    /// <inheritdoc />
    public void Broadcast(Span<byte> bytes, int root = 0)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), $"rank {root} does not exist in a single-process group");
    }
    /// <inheritdoc />
    public void Barrier() { }
    /// <inheritdoc />
    public void Dispose() { }
}
