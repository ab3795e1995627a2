using System.CommandLine;
using System.Globalization;
using Sdtt.Benchmarks;
using Sdtt.Native;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt bench latency [--device cpu|cuda] [--sizes demo,small,…] [--batch 8] [--seq-len L] [--steps 256,128,…]
/// [--repeats N] [--warmup N] [--precision fp32|bf16|both] [--methods …] [--cached-only|--uncached-only] [--budget S]
/// [--out DIR]</c>: the paper's latency protocol with untrained models of equal size.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks");
        bench.Subcommands.Add(Latency());
        bench.Subcommands.Add(DataParallel());
        bench.Subcommands.Add(ServeBench.Create());
        return bench;
    }

    /// <summary><c>sdtt bench dp [--config demo] [--data DIR] [--steps 12] [--warmup 2] [--micro-batch 4] [--global-batch 8]
    /// [--seq-len 256] [--set key=value ...] [--mpirun PATH] [--out DIR]</c>: 1 process × 2 threads against 2 ranks × 1 thread.</summary>
    private static Command DataParallel()
    {
        var config = new Option<string>("--config") { Description = "Training config (shipped name or JSON file)", DefaultValueFactory = _ => "demo" };
        var data = new Option<string?>("--data") { Description = "A prepared token folder (default: random tokens; timing does not depend on the text)" };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps per configuration", DefaultValueFactory = _ => 12 };
        var warmup = new Option<int>("--warmup") { Description = "Leading steps left out of the timing", DefaultValueFactory = _ => 2 };
        var micro = new Option<int>("--micro-batch") { Description = "Sequences per micro-batch", DefaultValueFactory = _ => 4 };
        var global = new Option<int>("--global-batch") { Description = "Sequences per optimizer step (multiple of 2 × micro-batch)", DefaultValueFactory = _ => 8 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per random sequence (ignored with --data)", DefaultValueFactory = _ => 256 };
        var sets = new Option<string[]>("--set") { Description = "Extra training override key=value for both runs; repeatable" };
        var mpirun = new Option<string>("--mpirun") { Description = "The mpirun program", DefaultValueFactory = _ => "mpirun" };
        var outDir = new Option<string>("--out") { Description = "Folder for the run folders and dp.csv", DefaultValueFactory = _ => "bench-dp" };
        var cmd = new Command("dp", "Time training at one global batch as 1 process × 2 threads and as 2 MPI ranks × 1 thread (needs Open MPI); run it on a quiet machine")
            { config, data, steps, warmup, micro, global, seqLen, sets, mpirun, outDir };
        cmd.SetGuardedAction(parse =>
        {
            // The ranks run this very build: nothing is compiled while they start.
            var tool = new[] { "dotnet", typeof(BenchCommand).Assembly.Location };
            var o = new DataParallelBenchOptions(tool, parse.GetValue(config)!, parse.GetValue(data), parse.GetValue(steps), parse.GetValue(warmup),
                parse.GetValue(micro), parse.GetValue(global), parse.GetValue(seqLen), parse.GetValue(sets) ?? Array.Empty<string>(),
                parse.GetValue(outDir)!, parse.GetValue(mpirun)!).Validate();
            var rows = DataParallelBenchmark.Run(o, line => Console.Error.WriteLine("bench dp: " + line));
            Console.WriteLine(DataParallelBenchmark.Markdown(rows));
            Console.WriteLine($"wrote {Path.Combine(o.OutDir, "dp.csv")}");
            return 0;
        });
        return cmd;
    }

    private static Command Latency()
    {
        var device = new Option<string>("--device") { Description = "cpu, cuda, cuda:N or auto (the defaults of the other options depend on it)", DefaultValueFactory = _ => "cpu" };
        var sizes = new Option<string?>("--sizes") { Description = "Comma-separated sizes: tiny, demo, small, medium, large, xl (D 2048, 24 blocks), 1.3b (the paper's 1.3B: D 2048, 16 heads, 21 blocks). CPU default: demo; CUDA: small,medium,large,1.3b" };
        var batch = new Option<string?>("--batch") { Description = "Comma-separated batch sizes, measured in one run (CPU default 1,8; CUDA 8, as the paper)" };
        var seqLen = new Option<int?>("--seq-len") { Description = "Tokens per sequence (CPU default 128; CUDA 1024)" };
        var steps = new Option<string?>("--steps") { Description = "Comma-separated diffusion step counts (CPU default 16,8,4,2,1; CUDA 1024,…,8)" };
        var repeats = new Option<int?>("--repeats") { Description = "Timed runs per configuration; the median is reported (CPU default 3; CUDA 5)" };
        var warmup = new Option<int?>("--warmup") { Description = "Untimed runs once per model and method before its first configuration (CPU default 1; CUDA 2)" };
        var precision = new Option<string?>("--precision") { Description = "fp32, bf16 or both (same precision on both sides; CPU default fp32, CUDA bf16)" };
        var sampler = new Option<string?>("--sampler") { Description = "Comma-separated diffusion samplers timed side by side: reveal-first, ancestral (reference), ancestral-cached (default: reveal-first,ancestral)" };
        var methods = new Option<string?>("--methods") { Description = "Comma-separated: reveal-first, ancestral, ancestral-cached, ar-kv, ar-nocache (default: reveal-first, ancestral, ar-kv)" };
        var cachedOnly = new Option<bool>("--cached-only") { Description = "Diffusion: only the cached sampler (plus AR)" };
        var uncachedOnly = new Option<bool>("--uncached-only") { Description = "Diffusion: only the uncached sampler (plus AR)" };
        var arNoCache = new Option<bool>("--ar-nocache") { Description = "Also time AR without the KV cache (quadratic; slow)" };
        var budget = new Option<double?>("--budget") { Description = "Estimated seconds allowed per size and precision; work that would exceed it is skipped with a note (CPU default 300; CUDA 1800; 0 = no limit)" };
        var seed = new Option<long>("--seed") { Description = "Seed of the model initialisation and of sampling", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "CPU threads for libtorch (0 = libtorch default)" };
        var chunkRows = new Option<int>("--chunk-rows") { Description = "Masked rows per output-layer chunk in the diffusion sampler (0 = 128 on CPU, 2048 on CUDA)" };
        var outDir = new Option<string?>("--out") { Description = "Folder for latency.csv and latency.png (default bench-latency)" };
        var cmd = new Command("latency", "Time diffusion sampling (uncached and cached) at several step counts against AR generation with a KV cache, untrained models of equal size")
            { device, sizes, batch, seqLen, steps, repeats, warmup, precision, sampler, methods, cachedOnly, uncachedOnly, arNoCache, budget, seed, threads, chunkRows, outDir };
        cmd.SetGuardedAction(parse =>
        {
            TorchRuntime.EnsureLoaded();
            var dev = parse.GetValue(device)!;
            TorchRuntime.ResolveDevice(dev);
            var o = LatencyOptions.ForDevice(dev);
            if (parse.GetValue(sizes) is { } sz) o = o with { Sizes = Split(sz, "--sizes") };
            if (parse.GetValue(batch) is { } bt) o = o with { Batches = Split(bt, "--batch").Select(x => int.TryParse(x, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new SdttException($"--batch: '{x}' is not an integer")).ToArray() };
            if (parse.GetValue(seqLen) is { } sl) o = o with { SeqLen = sl };
            if (parse.GetValue(steps) is { } st) o = o with { Steps = Split(st, "--steps").Select(x => int.TryParse(x, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new SdttException($"--steps: '{x}' is not an integer")).ToArray() };
            if (parse.GetValue(repeats) is { } rp) o = o with { Repeats = rp };
            if (parse.GetValue(warmup) is { } wu) o = o with { Warmup = wu };
            if (parse.GetValue(precision) is { } pr)
                o = o with { Precisions = pr.Trim().ToLowerInvariant() == "both" ? new[] { "fp32", "bf16" } : Split(pr.ToLowerInvariant(), "--precision") };
            var ms = parse.GetValue(methods) is { } m ? Split(m, "--methods").Select(LatencyOptions.ParseMethod).ToList() : o.Methods.ToList();
            if (parse.GetValue(sampler) is { } sm)
            {
                var diffusion = Split(sm, "--sampler").Select(x => LatencyOptions.ParseMethod(x) is var k && LatencyOptions.IsDiffusion(k) ? k
                    : throw new SdttException($"--sampler: '{x}' is not a diffusion sampler (reveal-first, ancestral, ancestral-cached)")).ToList();
                ms = diffusion.Concat(ms.Where(k => !LatencyOptions.IsDiffusion(k))).ToList();
            }
            if (parse.GetValue(cachedOnly) && parse.GetValue(uncachedOnly)) throw new SdttException("--cached-only and --uncached-only exclude each other");
            if (parse.GetValue(cachedOnly)) ms.Remove(LatencyMethod.Diffusion);
            if (parse.GetValue(uncachedOnly)) ms.Remove(LatencyMethod.DiffusionCached);
            if (parse.GetValue(arNoCache) && !ms.Contains(LatencyMethod.ArNoCache)) ms.Add(LatencyMethod.ArNoCache);
            o = o with { Methods = ms.Distinct().ToArray() };
            if (parse.GetValue(budget) is { } bu) o = o with { BudgetSeconds = bu };
            o = o with { Seed = parse.GetValue(seed), Threads = parse.GetValue(threads), ChunkRows = parse.GetValue(chunkRows), OutDir = parse.GetValue(outDir) ?? "bench-latency" };
            o.Validate();
            Sdtt.IO.OutputPath.RequireFolder(o.OutDir!); // before the benchmark, not after it

            Console.Error.WriteLine($"bench latency: sizes {string.Join(",", o.Sizes)}, batch {string.Join(",", o.Batches)}, {o.SeqLen} tokens, steps {string.Join(",", o.Steps)}, " +
                $"{o.Warmup} warm-up + {o.Repeats} timed runs, {string.Join("+", o.Precisions)}, methods {string.Join(",", o.Methods.Select(LatencyOptions.MethodName))}, budget {o.BudgetSeconds:F0} s per size");
            var report = LatencyBenchmark.Run(o, line => Console.Error.WriteLine("bench: " + line));

            Console.WriteLine(LatencyTable.Markdown(report));
            Console.WriteLine(LatencyTable.RooflineMarkdown(report));
            foreach (var n in report.Notes) Console.WriteLine("note: " + n);
            Console.WriteLine($"device {report.DeviceName}, {report.Threads} threads, total {report.Elapsed.TotalSeconds:F0} s; wrote {Path.Combine(o.OutDir!, "latency.csv")}" +
                (report.Rows.Count > 0 ? $" and {Path.Combine(o.OutDir!, "latency.png")}" : ""));
            return 0;
        });
        return cmd;
    }

    private static string[] Split(string s, string option)
    {
        var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new SdttException($"{option}: empty list");
        return parts;
    }
}
