namespace Sdtt.Distributed;

/// <summary>How one optimizer step's global batch is shared among ranks, and where each micro-batch's randomness comes from.
/// The global batch is <see cref="MicroBatches"/> micro-batches (global batch / micro-batch = ranks × accumulation); rank r
/// runs the contiguous block [r·A, (r+1)·A) of them, where A = <see cref="LocalMicroBatches"/>. Every rank draws the whole
/// sequence of micro-batches from the same data order (and skips the others'), and every random number of micro-batch g of
/// step s (diffusion times, masks, teacher uniforms, dropout) comes from generators seeded by (seed, s, g) alone, so
/// N ranks × A micro-batches compute exactly what one process computes with N × A micro-batches.</summary>
/// <param name="Rank">This rank.</param>
/// <param name="Size">Number of ranks.</param>
/// <param name="MicroBatches">Micro-batches in one global batch (all ranks together).</param>
public sealed record DataParallelPlan(int Rank, int Size, int MicroBatches)
{
    /// <summary>Micro-batches this rank runs per optimizer step (the accumulation per rank).</summary>
    public int LocalMicroBatches => MicroBatches / Size;
    /// <summary>Global index of this rank's first micro-batch.</summary>
    public int FirstMicroBatch => Rank * LocalMicroBatches;

    /// <summary>Whether global micro-batch <paramref name="g"/> is this rank's.</summary>
    public bool Owns(int g) => g >= FirstMicroBatch && g < FirstMicroBatch + LocalMicroBatches;

    /// <summary>libtorch threads of this rank: the requested count, or (0 = libtorch's default, which would give every rank
    /// all cores) the cores this process may use shared among the ranks on this host.</summary>
    public static int ThreadsPerRank(ICommunicator world, int requested)
    {
        if (requested > 0 || world.Size == 1) return requested;
        int local = int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE"), out var n) && n > 0 ? n : world.Size;
        // Environment.ProcessorCount honours the affinity mask: a rank mpirun bound to one core sees 1.
        return Math.Max(1, Environment.ProcessorCount / local);
    }

    /// <summary>The plan of <paramref name="comm"/>'s rank for a global batch of <paramref name="globalBatch"/> sequences in
    /// micro-batches of <paramref name="microBatch"/>; throws <see cref="SdttException"/> when the batch does not split evenly.</summary>
    public static DataParallelPlan For(ICommunicator comm, int globalBatch, int microBatch)
    {
        int micro = globalBatch / microBatch;
        if (micro % comm.Size != 0)
            throw new SdttException($"global_batch {globalBatch} does not split over {comm.Size} ranks in micro-batches of {microBatch}: " +
                $"it must be a multiple of micro_batch × ranks = {microBatch * comm.Size}");
        return new DataParallelPlan(comm.Rank, comm.Size, micro);
    }

    /// <summary>Seed of the noise generator for micro-batch <paramref name="g"/> of optimizer step <paramref name="step"/>.</summary>
    public static long NoiseSeed(long seed, long step, int g) => Hash(seed, step, g, 0x6E6F697365UL);

    /// <summary>Seed of the global generator (dropout) for micro-batch <paramref name="g"/> of step <paramref name="step"/>.</summary>
    public static long DropoutSeed(long seed, long step, int g) => Hash(seed, step, g, 0x64726F70UL);

    // SplitMix64 finaliser over the three coordinates; 63 bits so the seed is a non-negative long.
    private static long Hash(long seed, long step, int g, ulong stream)
    {
        ulong z = Mix((ulong)seed ^ stream);
        z = Mix(z ^ (ulong)step * 0x9E3779B97F4A7C15UL);
        z = Mix(z ^ (ulong)(uint)g * 0xD1B54A32D192ED03UL);
        return (long)(z >> 1);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
