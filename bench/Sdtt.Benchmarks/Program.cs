// Benchmark entry: `dotnet run -c Release --project bench/Sdtt.Benchmarks -- SUITE ARGS` (one file per benchmark).
using Sdtt;
using Sdtt.Benchmarks;

try
{
    return args.Length == 0 ? Usage() : args[0] switch
    {
        "sampling" => SamplingBenchmark.Run(args[1..]),
        "naive" => SamplingBenchmark.Naive(args[1..]),
        "make-model" => SamplingBenchmark.MakeModel(args[1..]),
        "ops" => OpsProbe.Run(args[1..]),
        "stages" => StageProbe.Run(args[1..]),
        "roofline" => RooflineProbe.Run(args[1..]),
        "ar-decode" => ArDecodeProbe.Run(args[1..]),
        "leaks" => LeakProbe.Run(args[1..]),
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
    Console.Error.WriteLine("usage: Sdtt.Benchmarks sampling [--configs tiny,demo] [--steps 16,64] [--batch B] [--threads T] | make-model DIR [--config tiny]");
    Console.Error.WriteLine("       Sdtt.Benchmarks memory [--size tiny|demo|small] [--batch 8] [--seq-len 256] [--threads 1]");
    return 1;
}
