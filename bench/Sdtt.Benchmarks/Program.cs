using Sdtt;
using Sdtt.Benchmarks;

// Benchmarks: `memory [--size demo] [--batch 8] [--seq-len 256]` (one file per benchmark; add a case per benchmark).
try
{
    return args.FirstOrDefault() switch
    {
        "memory" => MemoryBenchmark.Run(args),
        "memory-child" => MemoryBenchmark.ChildMain(args),
        _ => Usage(),
    };
}
catch (SdttException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Sdtt.Benchmarks memory [--size tiny|demo|small] [--batch 8] [--seq-len 256] [--threads 1]");
    return 2;
}
