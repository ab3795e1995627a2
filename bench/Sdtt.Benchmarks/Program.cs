// Benchmark entry: `dotnet run -c Release --project bench/Sdtt.Benchmarks -- SUITE ARGS`.
using Sdtt.Benchmarks;

return args.Length == 0 ? Usage() : args[0] switch
{
    "sampling" => SamplingBenchmark.Run(args[1..]),
    "naive" => SamplingBenchmark.Naive(args[1..]),
    "make-model" => SamplingBenchmark.MakeModel(args[1..]),
    "ops" => OpsProbe.Run(args[1..]),
    "stages" => StageProbe.Run(args[1..]),
    "leaks" => LeakProbe.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Sdtt.Benchmarks sampling [--configs tiny,demo] [--steps 16,64] [--batch B] [--threads T] | make-model DIR [--config tiny]");
    return 1;
}
