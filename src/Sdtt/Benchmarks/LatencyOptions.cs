namespace Sdtt.Benchmarks;

/// <summary>What the latency benchmark compares.</summary>
public enum LatencyMethod
{
    /// <summary>Diffusion ancestral sampler, one network call per step.</summary>
    Diffusion,
    /// <summary>Diffusion ancestral sampler reusing the network output when no token changed (mdlm's ddpm_cache).</summary>
    DiffusionCached,
    /// <summary>The reveal-first sampler (this project's default): network calls only in steps that reveal a position,
    /// output layer only at revealed rows.</summary>
    DiffusionRevealFirst,
    /// <summary>Autoregressive generation of L tokens with the KV cache (prefill + single-token decode).</summary>
    ArKv,
    /// <summary>Autoregressive generation recomputing the whole prefix for every token (no cache).</summary>
    ArNoCache,
}

/// <summary>Settings of <see cref="LatencyBenchmark"/>. <see cref="ForDevice"/> gives the defaults: on the CPU a run that
/// finishes in minutes on two cores; on CUDA the paper's protocol (sizes small → 1.3B, 1024 tokens, 1024 … 8 steps).</summary>
public sealed record LatencyOptions
{
    /// <summary>cpu, cuda, cuda:N or auto.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Model sizes (tiny, demo, small, medium, large, xl, 1.3b: see <see cref="Sdtt.Models.DitConfig.FromName"/>).</summary>
    public IReadOnlyList<string> Sizes { get; init; } = new[] { "demo" };
    /// <summary>Batch sizes, each measured in the same run (sequences generated at once; the paper: 8). CPU default 1 and 8:
    /// batch 1 is where diffusion's fixed step count pays off against memory-bound AR decoding, batch 8 the paper's setting.</summary>
    public IReadOnlyList<int> Batches { get; init; } = new[] { 1, 8 };
    /// <summary>Tokens per sequence L (AR generates L tokens after a BOS; diffusion samples L positions).</summary>
    public int SeqLen { get; init; } = 128;
    /// <summary>Diffusion step counts.</summary>
    public IReadOnlyList<int> Steps { get; init; } = new[] { 16, 8, 4, 2, 1 };
    /// <summary>Untimed runs before the timed ones (once per model and method, before its first configuration).</summary>
    public int Warmup { get; init; } = 1;
    /// <summary>Timed runs per configuration (the median is reported).</summary>
    public int Repeats { get; init; } = 3;
    /// <summary>Methods measured.</summary>
    public IReadOnlyList<LatencyMethod> Methods { get; init; } = new[] { LatencyMethod.DiffusionRevealFirst, LatencyMethod.Diffusion, LatencyMethod.ArKv };
    /// <summary>Numeric modes to measure: "fp32" and/or "bf16" (both sides always use the same one).</summary>
    public IReadOnlyList<string> Precisions { get; init; } = new[] { "fp32" };
    /// <summary>Estimated seconds allowed per (size, precision); step counts (largest first) or whole sizes whose estimate
    /// exceeds it are skipped with a printed note. 0 = no limit.</summary>
    public double BudgetSeconds { get; init; } = 300;
    /// <summary>Seed of the model initialisation and of the samplers.</summary>
    public long Seed { get; init; } = 1;
    /// <summary>CPU threads (0 = libtorch default).</summary>
    public int Threads { get; init; }
    /// <summary>Masked rows the diffusion sampler processes at a time (output layer → SUBS → race); larger chunks make
    /// fewer, bigger matrix products. 0 = 128 on the CPU, 2048 on CUDA.</summary>
    public int ChunkRows { get; init; }
    /// <summary>Output folder for latency.csv and latency.png (null = none written).</summary>
    public string? OutDir { get; init; }

    /// <summary>Defaults for a device: CPU = demo size, L 128, steps 16 … 1, 1 warm-up, 3 repeats; CUDA = small … xl,
    /// L 1024, steps 1024 … 8, 2 warm-ups, 5 repeats.</summary>
    public static LatencyOptions ForDevice(string device)
    {
        var d = device.Trim().ToLowerInvariant();
        if (d.StartsWith("cuda") || (d == "auto" && TorchSharp.torch.cuda.is_available()))
            return new LatencyOptions
            {
                Device = device, Sizes = new[] { "small", "medium", "large", "1.3b" }, SeqLen = 1024,
                Steps = new[] { 1024, 512, 256, 128, 64, 32, 16, 8 }, Warmup = 2, Repeats = 5, BudgetSeconds = 1800,
                Precisions = new[] { "bf16" }, Batches = new[] { 8 },
            };
        return new LatencyOptions { Device = device };
    }

    /// <summary>Whether a method is a diffusion sampler (rather than an AR decode).</summary>
    public static bool IsDiffusion(LatencyMethod m) => m is LatencyMethod.DiffusionRevealFirst or LatencyMethod.Diffusion or LatencyMethod.DiffusionCached;

    /// <summary>Parses a method name: a sampler's registry name (reveal-first, ancestral, ancestral-cached), ar-kv or ar-nocache.</summary>
    public static LatencyMethod ParseMethod(string s) => s.Trim().ToLowerInvariant() switch
    {
        "reveal-first" or "diffusion-reveal-first" => LatencyMethod.DiffusionRevealFirst,
        "diffusion" or "ancestral" or "mdlm" or "uncached" => LatencyMethod.Diffusion,
        "diffusion-cached" or "ancestral-cached" or "mdlm-cached" or "cached" => LatencyMethod.DiffusionCached,
        "ar-kv" or "ar" or "kv" => LatencyMethod.ArKv,
        "ar-nocache" or "ar-no-cache" => LatencyMethod.ArNoCache,
        _ => throw new SdttException($"unknown method '{s}'; use reveal-first, ancestral, ancestral-cached, ar-kv or ar-nocache"),
    };

    /// <summary>The short name of a method.</summary>
    public static string MethodName(LatencyMethod m) => m switch
    {
        LatencyMethod.DiffusionRevealFirst => "reveal-first",
        LatencyMethod.Diffusion => "ancestral",
        LatencyMethod.DiffusionCached => "ancestral-cached",
        LatencyMethod.ArKv => "ar-kv",
        _ => "ar-nocache",
    };

    /// <summary>Checks the settings (one-line errors naming the option).</summary>
    public LatencyOptions Validate()
    {
        if (Sizes.Count == 0) throw new SdttException("--sizes: give at least one size");
        if (Batches.Count == 0 || Batches.Any(b => b < 1)) throw new SdttException($"--batch: give batch sizes ≥ 1 (got {string.Join(",", Batches)})");
        if (SeqLen < 2) throw new SdttException($"--seq-len must be ≥ 2 (got {SeqLen})");
        if (Steps.Count == 0 || Steps.Any(s => s < 1)) throw new SdttException("--steps: give positive step counts");
        if (Warmup < 0) throw new SdttException($"--warmup must be ≥ 0 (got {Warmup})");
        if (Repeats < 1) throw new SdttException($"--repeats must be ≥ 1 (got {Repeats})");
        if (Methods.Count == 0) throw new SdttException("--methods: give at least one method");
        foreach (var p in Precisions)
            if (p is not ("fp32" or "bf16")) throw new SdttException($"--precision: '{p}' is not fp32 or bf16");
        if (BudgetSeconds < 0) throw new SdttException("--budget must be ≥ 0");
        if (ChunkRows < 0) throw new SdttException($"--chunk-rows must be ≥ 0 (got {ChunkRows})");
        foreach (var s in Sizes) LatencyBenchmark.Shapes(s, SeqLen); // throws on unknown names
        return this;
    }
}
