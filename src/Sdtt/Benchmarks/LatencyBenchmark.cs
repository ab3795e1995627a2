using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Sampling;
using Sdtt.Sampling.Autoregressive;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Benchmarks;

/// <summary>One measured configuration.</summary>
/// <param name="Size">Size name.</param>
/// <param name="Batch">Sequences generated at once.</param>
/// <param name="Precision">fp32 or bf16 (both sides).</param>
/// <param name="Method">What was timed.</param>
/// <param name="Steps">Diffusion steps (null for AR).</param>
/// <param name="Parameters">Parameters of the model that ran (DiT or GPT).</param>
/// <param name="MedianMs">Median wall time of one batch (ms).</param>
/// <param name="MinMs">Fastest timed run.</param>
/// <param name="MaxMs">Slowest timed run.</param>
/// <param name="TokensPerSecond">Batch·L / median.</param>
/// <param name="NetworkCalls">Network (trunk) calls of the last timed run (diffusion) or forward passes (AR).</param>
/// <param name="SpeedupVsArKv">AR-with-KV-cache median / this median at the same size and precision (null if AR-KV missing).</param>
public sealed record LatencyRow(string Size, int Batch, string Precision, LatencyMethod Method, int? Steps, long Parameters,
    double MedianMs, double MinMs, double MaxMs, double TokensPerSecond, int NetworkCalls, double? SpeedupVsArKv)
{
    /// <summary>The speedup over AR-KV that the two rooflines of the same run predict (<see cref="Roofline"/>; null
    /// without an AR-KV row or a trunk measurement).</summary>
    public double? PredictedSpeedupVsArKv { get; init; }
}

/// <summary>The benchmark's outcome: rows, notes about skipped work, and the settings used.</summary>
public sealed record LatencyReport(IReadOnlyList<LatencyRow> Rows, IReadOnlyList<string> Notes, LatencyOptions Options,
    string DeviceName, int Threads, TimeSpan Elapsed)
{
    /// <summary>The rooflines of each size × batch × precision measured in this run.</summary>
    public IReadOnlyList<RooflineRow> Rooflines { get; init; } = Array.Empty<RooflineRow>();

    /// <summary>The CPU model and its SIMD flags (or the device name off the CPU).</summary>
    public string CpuDescription { get; init; } = "";

    /// <summary>CSV with a header (invariant culture).</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder("size,precision,method,steps,parameters,batch,seq_len,ms_median,ms_min,ms_max,tokens_per_s,network_calls,speedup_vs_ar_kv,predicted_speedup_vs_ar_kv\n");
        foreach (var r in Rows)
            sb.AppendLine(string.Join(",", r.Size, r.Precision, LatencyOptions.MethodName(r.Method), r.Steps?.ToString(CultureInfo.InvariantCulture) ?? "",
                r.Parameters, r.Batch, Options.SeqLen, F(r.MedianMs), F(r.MinMs), F(r.MaxMs), F(r.TokensPerSecond), r.NetworkCalls,
                r.SpeedupVsArKv is { } s ? s.ToString("0.####", CultureInfo.InvariantCulture) : "",
                r.PredictedSpeedupVsArKv is { } q ? q.ToString("0.####", CultureInfo.InvariantCulture) : ""));
        return sb.ToString();
        static string F(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);
    }
}

/// <summary>The paper's latency protocol with untrained models of equal shape: the diffusion ancestral sampler (uncached and
/// cached) at several step counts against autoregressive generation of the same number of tokens with a KV cache, batch 8,
/// warm-up runs then timed repeats, median reported. Warm-up runs are made once per model and method, before its first
/// (smallest) configuration: they page in the weights and warm the allocator, which does not depend on the step count.
/// <para>Models: a <see cref="Dit"/> of the size's shape, whose zero-initialised adaLN modulations and output layer are
/// re-initialised N(0, 0.02²) so its output is a non-uniform distribution (the cached sampler's reuse depends only on whether
/// a token was revealed in a step, so this does not change its reuse rate, but the sampler then works on a realistic
/// distribution); and a <see cref="GptModel"/> with the same width, heads and depth, n_positions L + 1, vocabulary 50257 and an
/// untied head (closest in parameter count to the DiT), GPT-2 initialisation. AR generates L tokens after one BOS token;
/// diffusion samples L positions (float32 exponential race as in the reference, no top-p, temperature 1, masked rows in
/// chunks of <see cref="LatencyOptions.ChunkRows"/>).</para></summary>
public static class LatencyBenchmark
{
    /// <summary>The (DiT, GPT) pair of a size name for sequences of <paramref name="seqLen"/> tokens.</summary>
    public static (DitConfig Dit, GptConfig Gpt) Shapes(string size, int seqLen)
    {
        var dit = DitConfig.FromName(size) with { ModelLength = seqLen, Dropout = 0 };
        var gpt = GptConfig.Matching(dit, GptConfig.Gpt2VocabSize) with { NPositions = seqLen + 1, TieWordEmbeddings = false, Dropout = 0 };
        return (dit, gpt);
    }

    /// <summary>Builds an untrained DiT for latency measurement (see the class remarks for the initialisation).</summary>
    public static Dit UntrainedDit(DitConfig cfg, long seed, Device device)
    {
        manual_seed(seed);
        var model = new Dit(cfg);
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters())
                if (name.Contains("adaLN_modulation") || name.StartsWith("output_layer.linear"))
                    nn.init.normal_(p, 0.0, 0.02);
        }
        if (device.type != DeviceType.CPU) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>Builds an untrained GPT model (GPT-2 initialisation) for latency measurement.</summary>
    public static GptModel UntrainedGpt(GptConfig cfg, long seed, Device device)
    {
        manual_seed(seed);
        var model = new GptModel(cfg);
        if (device.type != DeviceType.CPU) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>Runs the benchmark; <paramref name="log"/> receives progress lines and notes.</summary>
    public static LatencyReport Run(LatencyOptions options, Action<string>? log = null, CancellationToken cancel = default)
    {
        options.Validate();
        log ??= _ => { };
        TorchRuntime.EnsureLoaded();
        if (options.Threads > 0) set_num_threads(options.Threads);
        var device = TorchRuntime.ResolveDevice(options.Device);
        var total = Stopwatch.StartNew();
        var run = new RunState(options, device, log, cancel);
        if (device.type == DeviceType.CPU)
        {
            var cpu = CpuInfo.Current;
            run.Note($"CPU {cpu}");
            if (options.Precisions.Contains("bf16") && !cpu.HasNativeBf16)
                run.Note("this CPU has no native bf16 (avx512_bf16, amx_bf16): libtorch emulates bf16 through fp32, so bf16 is expected to be slower here and the default stays fp32");
            if (LoadAverage() is { } load0)
            {
                run.Note($"CPU load average at start {load0} on {Environment.ProcessorCount} cores, {get_num_threads()} libtorch threads");
                if (double.TryParse(load0.Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var l1) && l1 > Environment.ProcessorCount && get_num_threads() > 1)
                    run.Note("the machine is busy: multi-threaded libtorch timings become erratic when other processes compete for the cores (small ops suffer most, i.e. AR decoding); consider --threads 1");
            }
        }
        double copy = Roofline.CopyGBps(device);
        log($"copy bandwidth {copy:F1} GB/s (256 MB tensor copy, read + write)");

        foreach (var size in options.Sizes)
        foreach (var b in options.Batches)
        foreach (var precision in options.Precisions)
        {
            cancel.ThrowIfCancellationRequested();
            MeasureConfiguration(run, size, b, precision, copy);
        }
        total.Stop();
        if (device.type == DeviceType.CPU && LoadAverage() is { } load1) run.Note($"CPU load average at the end {load1}");
        var report = new LatencyReport(run.Rows, run.Notes, options, device.ToString(), get_num_threads(), total.Elapsed)
        {
            Rooflines = run.Rooflines,
            CpuDescription = device.type == DeviceType.CPU ? CpuInfo.Current.ToString() : device.ToString(),
        };
        if (options.OutDir is { } dir)
        {
            Directory.CreateDirectory(dir);
            IO.AtomicFile.WriteAllText(Path.Combine(dir, "latency.csv"), report.ToCsv());
            if (run.Rows.Count > 0) LatencyPlot.Write(report, Path.Combine(dir, "latency.png"));
        }
        return report;
    }

    /// <summary>What a run accumulates: its settings, rows, roofline rows and notes.</summary>
    private sealed class RunState(LatencyOptions options, Device device, Action<string> log, CancellationToken cancel)
    {
        public LatencyOptions Options { get; } = options;
        public Device Device { get; } = device;
        public Action<string> Log { get; } = log;
        public CancellationToken Cancel { get; } = cancel;
        public List<LatencyRow> Rows { get; } = new();
        public List<RooflineRow> Rooflines { get; } = new();
        public List<string> Notes { get; } = new();
        public void Note(string s) { Notes.Add(s); Log("note: " + s); }
    }

    /// <summary>One size × batch × precision: plan within the budget, time AR then diffusion, measure the trunk, and add
    /// the rows (with speedups against AR-KV) and the roofline row.</summary>
    private static void MeasureConfiguration(RunState run, string size, int b, string precision, double copyGBps)
    {
        var options = run.Options;
        int l = options.SeqLen;
        var (ditCfg, gptCfg) = Shapes(size, l);
        var mode = precision == "bf16" ? ModelPrecision.BFloat16 : ModelPrecision.Float32;
        long bytesNeeded = MemoryEstimate(ditCfg, gptCfg, b, l);
        if (run.Device.type == DeviceType.CPU && AvailableMemory() is { } avail && bytesNeeded > 0.85 * avail)
        {
            run.Note($"{size} {precision}: skipped, needs about {bytesNeeded / 1e9:F1} GB but {avail / 1e9:F1} GB are available");
            return;
        }
        double gflops = Roofline.MatmulGflops(ditCfg.HiddenSize, b * l, mode, run.Device);
        var budget = new Budget(options, $"{size} batch {b} {precision}", run.Note);
        var planned = budget.Select(Plan(options, b, ditCfg, gptCfg, gflops));
        run.Log($"{size} batch {b} {precision}: DiT {ditCfg.ParameterCount:N0} / GPT {gptCfg.ParameterCount:N0} parameters, " +
            $"matmul {gflops:F0} GFLOP/s, estimated {planned.Sum(p => p.EstimatedSeconds) * options.Repeats:F0} s (FLOP model)");
        if (!planned.Any(p => p.Method == LatencyMethod.ArKv) && options.Methods.Contains(LatencyMethod.ArKv))
            run.Note($"{size} {precision}: AR with KV cache did not fit the budget, so no speedups are reported");

        var rows = new List<LatencyRow>();
        double trunkMs = double.NaN;
        try
        {
            // AR first (its time is the reference of the speedups), then diffusion; one model in memory at a time.
            var arRuns = planned.Where(p => !LatencyOptions.IsDiffusion(p.Method)).ToList();
            if (arRuns.Count > 0)
            {
                using var gpt = UntrainedGpt(gptCfg, options.Seed, run.Device);
                if (mode == ModelPrecision.BFloat16) gpt.KeepWeightsInBFloat16();
                gpt.PrepareForDecoding();
                foreach (var p in arRuns.Where(budget.Fits))
                {
                    var opts = new ArGenerationOptions { MaxNewTokens = l, Seed = options.Seed, UseCache = p.Method == LatencyMethod.ArKv };
                    var timing = Time(options.Repeats, budget.WarmupFor(p), () =>
                    {
                        using var scope = NewDisposeScope();
                        var outp = ArGenerator.Generate(gpt, ArGenerator.BosPrompt(b, run.Device), opts, cancellation: run.Cancel);
                        _ = outp.cpu();
                        return l;
                    }, run.Cancel);
                    rows.Add(budget.Record(p, timing, size, b, precision, gptCfg.ParameterCount, l, run.Log));
                }
            }
            var diffRuns = planned.Where(p => LatencyOptions.IsDiffusion(p.Method)).ToList();
            if (diffRuns.Count > 0)
            {
                using var dit = UntrainedDit(ditCfg, options.Seed, run.Device);
                if (mode == ModelPrecision.BFloat16) dit.KeepWeightsInBFloat16();
                trunkMs = Roofline.TrunkMs(dit, b, l);
                foreach (var p in diffRuns.Where(budget.Fits))
                {
                    var sampler = SamplerRegistry.Get(LatencyOptions.MethodName(p.Method));
                    var so = new SamplingOptions
                    {
                        Steps = p.Steps!.Value, NumSamples = b, SeqLen = l, Seed = options.Seed,
                        Cached = p.Method == LatencyMethod.DiffusionCached,
                        Precision = p.Method == LatencyMethod.DiffusionRevealFirst ? CategoricalPrecision.Float64 : CategoricalPrecision.Float32,
                        ChunkRows = options.ChunkRows > 0 ? options.ChunkRows : run.Device.type == DeviceType.CPU ? 128 : 2048,
                        Cancellation = run.Cancel,
                    };
                    var timing = Time(options.Repeats, budget.WarmupFor(p), () => sampler.Sample(dit, so).NetworkCalls, run.Cancel);
                    rows.Add(budget.Record(p, timing, size, b, precision, ditCfg.ParameterCount, l, run.Log));
                }
            }
        }
        catch (Exception e) when (IsOutOfMemory(e))
        {
            run.Note($"{size} {precision}: stopped, out of memory ({e.Message.Split('\n')[0]})");
        }

        var ar = rows.FirstOrDefault(r => r.Method == LatencyMethod.ArKv);
        var roof = new RooflineRow(size, b, precision, copyGBps, gflops, trunkMs,
            Roofline.TrunkFlops(ditCfg, b, l) / (trunkMs / 1000.0) / 1e9, Roofline.ArWeightBytes(gptCfg, mode), ar is null ? null : ar.MedianMs / l);
        if (!double.IsNaN(trunkMs)) run.Rooflines.Add(roof);
        double? predictedAr = ar is null ? null : Roofline.PredictArMs(roof, gptCfg, l);
        run.Rows.AddRange(rows.Select(r =>
        {
            double? predicted = null;
            if (predictedAr is { } pa && LatencyOptions.IsDiffusion(r.Method) && !double.IsNaN(trunkMs))
                predicted = pa / Roofline.PredictDiffusionMs(roof, ditCfg, r.Method, r.Steps!.Value, r.NetworkCalls, l);
            else if (r.Method == LatencyMethod.ArKv && predictedAr is not null) predicted = 1.0;
            return r with { SpeedupVsArKv = ar is null ? null : ar.MedianMs / r.MedianMs, PredictedSpeedupVsArKv = predicted };
        }));
        if (!double.IsNaN(trunkMs))
            run.Log($"{size} batch {b} {precision}: trunk {trunkMs:F1} ms = {roof.TrunkGflops:F0} GFLOP/s ({roof.TrunkFraction:P0} of the matmul rate)" +
                (roof.ArAchievedGBps is { } gb ? $"; AR-KV reads {gb:F1} GB/s of weights ({roof.ArBandwidthFraction:P0} of the copy bandwidth)" : ""));
    }

    /// <summary>The time budget of one configuration: skips planned work that the FLOP model says would not fit, then,
    /// once runs have been timed, rescales the estimates of each family (AR, diffusion) by what was measured so far.</summary>
    private sealed class Budget(LatencyOptions options, string label, Action<string> note)
    {
        private readonly double _limit = options.BudgetSeconds > 0 ? options.BudgetSeconds : double.PositiveInfinity;
        private readonly Dictionary<bool, (double Spent, double Estimated)> _calibration = new();
        private readonly HashSet<LatencyMethod> _warmed = new();
        private double _spent;

        /// <summary>The planned runs whose estimate (with warm-up once per method) fits the budget, in plan order.</summary>
        public List<PlannedRun> Select(List<PlannedRun> plan)
        {
            var kept = new List<PlannedRun>();
            var firstOfMethod = new HashSet<LatencyMethod>();
            double cumulative = 0;
            foreach (var p in plan)
            {
                double cost = p.EstimatedSeconds * (options.Repeats + (firstOfMethod.Contains(p.Method) ? 0 : options.Warmup));
                if (cumulative + cost > _limit)
                {
                    note($"{label}: skipped {Describe(p)} (estimated {cost:F0} s; budget {_limit:F0} s per size, raise --budget)");
                    continue;
                }
                cumulative += cost;
                firstOfMethod.Add(p.Method);
                kept.Add(p);
            }
            return kept;
        }

        /// <summary>Warm-up runs for <paramref name="p"/>: the option's count the first time a method runs, then 0.</summary>
        public int WarmupFor(PlannedRun p) => _warmed.Add(p.Method) ? options.Warmup : 0;

        /// <summary>Whether <paramref name="p"/> still fits, from the runs measured so far (a note when it does not).</summary>
        public bool Fits(PlannedRun p)
        {
            bool ar = !LatencyOptions.IsDiffusion(p.Method);
            double factor = _calibration.TryGetValue(ar, out var c) && c.Estimated > 0 ? Math.Max(0.05, c.Spent / c.Estimated) : 1.0;
            int n = options.Repeats + (_warmed.Contains(p.Method) ? 0 : options.Warmup);
            double est = p.EstimatedSeconds * n * factor;
            if (_spent + est <= _limit) return true;
            note($"{label}: skipped {Describe(p)} (estimated {est:F0} s from the runs so far, {Math.Max(0, _limit - _spent):F0} s of the --budget left)");
            return false;
        }

        /// <summary>The row of a timed run; charges its wall time (warm-up included) to the budget.</summary>
        public LatencyRow Record(PlannedRun p, Timing t, string size, int b, string precision, long parameters, int l, Action<string> log)
        {
            var sorted = t.Ms.OrderBy(x => x).ToList();
            double median = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : 0.5 * (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]);
            var row = new LatencyRow(size, b, precision, p.Method, p.Steps, parameters, median, sorted[0], sorted[^1],
                b * (double)l / (median / 1000.0), t.Calls, null);
            _spent += t.TotalSeconds;
            bool ar = !LatencyOptions.IsDiffusion(p.Method);
            _calibration.TryGetValue(ar, out var c);
            _calibration[ar] = (c.Spent + t.Ms.Sum() / 1000.0, c.Estimated + p.EstimatedSeconds * t.Ms.Count);
            log($"{size} batch {b} {precision} {Describe(p)}: median {median:F1} ms ({row.TokensPerSecond:F0} tokens/s, {t.Calls} network calls)");
            return row;
        }
    }

    private sealed record PlannedRun(LatencyMethod Method, int? Steps, double EstimatedSeconds);

    private static string Describe(PlannedRun p) => LatencyOptions.MethodName(p.Method) + (p.Steps is { } s ? $" @ {s} steps" : "");

    /// <summary>AR-KV first, then (per step count, smallest first) uncached and cached diffusion, then AR without cache.</summary>
    private static List<PlannedRun> Plan(LatencyOptions o, int batch, DitConfig dit, GptConfig gpt, double gflops)
    {
        double rate = gflops * 1e9;
        long b = batch, l = o.SeqLen, d = dit.HiddenSize, n = dit.NBlocks, v = dit.VocabSize;
        double trunkPerToken = 24.0 * d * d * n + 4.0 * l * d * n;
        double rowOut = 2.0 * d * v + 100.0 * v;                // output layer + SUBS and exponential race per masked row
        double diffStep = b * l * trunkPerToken + b * l / 2.0 * rowOut;
        double arKv = l * b * (24.0 * d * d * n + 2.0 * l * d * n + 2.0 * d * gpt.VocabSize + 30.0 * gpt.VocabSize);
        double arNoCache = b * (l * (l + 1) / 2.0) * 24.0 * d * d * n + b * (l * (double)l * l / 3.0) * 4.0 * d * n + l * b * 2.0 * d * gpt.VocabSize;
        var plan = new List<PlannedRun>();
        if (o.Methods.Contains(LatencyMethod.ArKv)) plan.Add(new(LatencyMethod.ArKv, null, arKv / rate));
        foreach (var s in o.Steps.Distinct().OrderBy(x => x))
        {
            // reveal-first: a trunk per step that reveals something (at most min(N, B·L)), the output layer once per position
            if (o.Methods.Contains(LatencyMethod.DiffusionRevealFirst))
                plan.Add(new(LatencyMethod.DiffusionRevealFirst, s, (Math.Min(s, b * l) * b * l * trunkPerToken + b * l * rowOut) / rate + s * 1e-4));   // + ~0.1 ms bookkeeping per step
            if (o.Methods.Contains(LatencyMethod.Diffusion)) plan.Add(new(LatencyMethod.Diffusion, s, s * diffStep / rate));
            if (o.Methods.Contains(LatencyMethod.DiffusionCached)) plan.Add(new(LatencyMethod.DiffusionCached, s, s * diffStep / rate));
        }
        if (o.Methods.Contains(LatencyMethod.ArNoCache)) plan.Add(new(LatencyMethod.ArNoCache, null, arNoCache / rate));
        return plan;
    }

    /// <summary>Timed runs (ms each), the calls of the last one, and the wall time of all runs including warm-up.</summary>
    private sealed record Timing(List<double> Ms, int Calls, double TotalSeconds);

    /// <summary><paramref name="warmup"/> untimed runs, then <paramref name="repeats"/> timed ones.</summary>
    private static Timing Time(int repeats, int warmup, Func<int> body, CancellationToken cancel)
    {
        var times = new List<double>();
        int calls = 0;
        var all = Stopwatch.StartNew();
        for (int i = 0; i < repeats + warmup; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var sw = Stopwatch.StartNew();
            calls = body();
            sw.Stop();
            if (i >= warmup) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        return new Timing(times, calls, all.Elapsed.TotalSeconds);
    }

    private static long MemoryEstimate(DitConfig dit, GptConfig gpt, int b, int l)
    {
        long weights = Math.Max(dit.ParameterCount, gpt.ParameterCount) * 4L;
        long activations = (long)b * l * dit.HiddenSize * 4L * 16 + (long)Math.Min(b * l, 128) * dit.VocabSize * 8L * 4;
        long kv = 2L * gpt.NLayers * b * (l + 1) * gpt.HiddenSize * 4L;
        long logpCache = Math.Min(1L << 30, (long)b * l * dit.VocabSize * 4L);
        return weights + activations + kv + logpCache; // bf16 runs keep their weights in bf16 (no per-call copies)
    }

    private static long? AvailableMemory()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:"))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    private static string? LoadAverage()
    {
        try { return File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : null; }
        catch (IOException) { return null; }
    }

    private static bool IsOutOfMemory(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is OutOfMemoryException || x.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase)
                || x.Message.Contains("alloc", StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }
}
