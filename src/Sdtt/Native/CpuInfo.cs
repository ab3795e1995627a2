using System.Runtime.InteropServices;

namespace Sdtt.Native;

/// <summary>What the host CPU is and which SIMD extensions it has, read from <c>/proc/cpuinfo</c> on Linux (elsewhere the
/// model name comes from the runtime and <see cref="Flags"/> is empty). Used to choose defaults that fit the device
/// (bf16 only where the CPU computes it natively) and to label benchmark results.</summary>
/// <param name="ModelName">The CPU model ("AMD EPYC 9654 96-Core Processor"), or a generic name when unknown.</param>
/// <param name="Flags">The CPU feature flags (x86 <c>flags</c> line, or the ARM <c>Features</c> line), lower case.</param>
/// <param name="LogicalCores">Logical processors visible to this process.</param>
public sealed record CpuInfo(string ModelName, IReadOnlySet<string> Flags, int LogicalCores)
{
    private static readonly Lazy<CpuInfo> Host = new(Read);

    /// <summary>Flags that name native bfloat16 arithmetic: AVX512-BF16 and AMX-BF16 (x86), BF16 (ARMv8.6).</summary>
    public static IReadOnlyList<string> Bf16Flags { get; } = new[] { "avx512_bf16", "amx_bf16", "bf16" };

    /// <summary>The SIMD flags worth printing next to a timing, in this order, when present.</summary>
    public static IReadOnlyList<string> NotableSimdFlags { get; } = new[]
    {
        "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
        "amx_bf16", "amx_int8", "neon", "asimd", "sve", "sve2", "bf16", "i8mm",
    };

    /// <summary>The CPU this process runs on (read once).</summary>
    public static CpuInfo Current => Host.Value;

    /// <summary>Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16 on x86, BF16 on ARM). Without it
    /// libtorch emulates bf16 matmuls through fp32 conversions, which is slower than plain fp32.</summary>
    public bool HasNativeBf16 => Bf16Flags.Any(Flags.Contains);

    /// <summary>The notable SIMD flags present, e.g. "avx2 fma avx512f avx512_bf16".</summary>
    public IReadOnlyList<string> SimdFlags => NotableSimdFlags.Where(Flags.Contains).ToList();

    /// <summary>"AMD EPYC …, 16 logical cores, avx2 fma avx512f avx512_bf16".</summary>
    public override string ToString() =>
        $"{ModelName}, {LogicalCores} logical cores{(SimdFlags.Count > 0 ? ", " + string.Join(' ', SimdFlags) : "")}";

    /// <summary>Parses the text of <c>/proc/cpuinfo</c> (the first processor's <c>model name</c> and <c>flags</c> or
    /// <c>Features</c>; ARM kernels may name the model in <c>Hardware</c> or not at all).</summary>
    public static CpuInfo Parse(string cpuinfo, int logicalCores)
    {
        string? model = null, flags = null;
        foreach (var raw in cpuinfo.Split('\n'))
        {
            int colon = raw.IndexOf(':');
            if (colon < 0) continue;
            var key = raw[..colon].Trim().ToLowerInvariant();
            var value = raw[(colon + 1)..].Trim();
            if (model is null && key is "model name" or "hardware" or "cpu model" && value.Length > 0) model = value;
            else if (flags is null && key is "flags" or "features") flags = value;
        }
        var set = new HashSet<string>((flags ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.ToLowerInvariant()));
        return new CpuInfo(model ?? FallbackName(), set, logicalCores);
    }

    private static CpuInfo Read()
    {
        try
        {
            if (OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo"))
                return Parse(File.ReadAllText("/proc/cpuinfo"), Environment.ProcessorCount);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* fall back below */ }
        return new CpuInfo(FallbackName(), new HashSet<string>(), Environment.ProcessorCount);
    }

    private static string FallbackName() => $"{RuntimeInformation.ProcessArchitecture} CPU";
}
