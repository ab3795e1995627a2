namespace Sdtt.Distributed;

/// <summary><see cref="ICommunicator"/> over MPI_COMM_WORLD with Open MPI (see <see cref="MpiLibrary"/> for the binding).
/// Buffers are host memory; counts above 2³¹ − 1 elements are sent in pieces. Create it once per process
/// (<see cref="Communicator.FromEnvironment"/>); <see cref="Dispose"/> calls MPI_Finalize, which waits for every rank, so on
/// an error path call <see cref="Abort"/> instead.</summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    private const int MaxCount = int.MaxValue;
    private bool _disposed;

    /// <inheritdoc />
    public int Rank { get; }
    /// <inheritdoc />
    public int Size { get; }
    /// <inheritdoc />
    public string Description => $"Open MPI ({_library}), rank {Rank} of {Size}";
    private readonly string _library;

    private MpiCommunicator(string library, int rank, int size)
    {
        _library = library;
        Rank = rank;
        Size = size;
    }

    /// <summary>Loads libmpi, calls MPI_Init_thread (funneled: only the thread that trains calls MPI) unless MPI is already
    /// initialised, and reads the rank and size of MPI_COMM_WORLD.</summary>
    public static MpiCommunicator Initialize()
    {
        var lib = MpiLibrary.Load();
        int flag = 0, provided = 0, rank = 0, size = 0;
        MpiLibrary.Check(MpiLibrary.Initialized(&flag), "MPI_Initialized");
        if (flag == 0) MpiLibrary.Check(MpiLibrary.InitThread(null, null, MpiLibrary.ThreadFunneled, &provided), "MPI_Init_thread");
        MpiLibrary.Check(MpiLibrary.CommRank(MpiLibrary.CommWorld, &rank), "MPI_Comm_rank");
        MpiLibrary.Check(MpiLibrary.CommSize(MpiLibrary.CommWorld, &size), "MPI_Comm_size");
        return new MpiCommunicator(lib, rank, size);
    }

    /// <inheritdoc />
    public void AllReduceSum(Span<float> values)
    {
        fixed (float* p = values)
            for (long off = 0; off < values.Length; off += MaxCount)
                MpiLibrary.Check(MpiLibrary.Allreduce(MpiLibrary.InPlace, (nint)(p + off), (int)Math.Min(MaxCount, values.Length - off),
                    MpiLibrary.Float, MpiLibrary.OpSum, MpiLibrary.CommWorld), "MPI_Allreduce");
    }

    /// <inheritdoc />
    public void AllReduceSum(Span<double> values)
    {
        fixed (double* p = values)
            for (long off = 0; off < values.Length; off += MaxCount)
                MpiLibrary.Check(MpiLibrary.Allreduce(MpiLibrary.InPlace, (nint)(p + off), (int)Math.Min(MaxCount, values.Length - off),
                    MpiLibrary.Double, MpiLibrary.OpSum, MpiLibrary.CommWorld), "MPI_Allreduce");
    }

    /// <inheritdoc />
    public void Broadcast(Span<byte> bytes, int root = 0)
    {
        fixed (byte* p = bytes)
            for (long off = 0; off < bytes.Length; off += MaxCount)
                MpiLibrary.Check(MpiLibrary.Bcast((nint)(p + off), (int)Math.Min(MaxCount, bytes.Length - off), MpiLibrary.Byte, root,
                    MpiLibrary.CommWorld), "MPI_Bcast");
    }

    /// <inheritdoc />
    public void Barrier() => MpiLibrary.Check(MpiLibrary.Barrier(MpiLibrary.CommWorld), "MPI_Barrier");

    /// <summary>Ends every rank of the job with <paramref name="exitCode"/> (MPI_Abort): the way out after an error on one
    /// rank, since the others may be waiting in a collective that will never complete.</summary>
    public void Abort(int exitCode)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        MpiLibrary.Abort(MpiLibrary.CommWorld, exitCode);
        Environment.Exit(exitCode);
    }

    /// <summary>MPI_Finalize (once; waits for every rank to finalize).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        int done = 0;
        if (MpiLibrary.Finalized(&done) == MpiLibrary.Success && done == 0) MpiLibrary.Finalize();
    }
}
