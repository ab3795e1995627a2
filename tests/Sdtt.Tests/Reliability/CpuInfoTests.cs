using Sdtt.Native;

namespace Sdtt.Tests.Reliability;

/// <summary><see cref="CpuInfo"/> parses the x86 and ARM layouts of /proc/cpuinfo and detects native bf16.</summary>
public class CpuInfoTests
{
    [Fact]
    public void ParsesX86ModelAndFlags()
    {
        const string text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\n" +
                            "flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_bf16\n\nprocessor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n";
        var c = CpuInfo.Parse(text, 2);
        Assert.Equal("AMD EPYC 9654 96-Core Processor", c.ModelName);
        Assert.True(c.HasNativeBf16);
        Assert.Equal(new[] { "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16" }, c.SimdFlags);
        Assert.Contains("2 logical cores", c.ToString());
    }

    [Fact]
    public void WithoutBf16FlagsThereIsNoNativeBf16()
    {
        var c = CpuInfo.Parse("model name : Intel(R) Xeon(R) CPU E5-2680 v4\nflags : sse4_2 avx avx2 fma\n", 4);
        Assert.False(c.HasNativeBf16);
        Assert.True(CpuInfo.Parse("model name : Sapphire Rapids\nflags : avx512f amx_tile amx_bf16\n", 1).HasNativeBf16);
        var arm = CpuInfo.Parse("processor : 0\nFeatures : fp asimd sve bf16 i8mm\nCPU part : 0xd40\n", 8);
        Assert.True(arm.HasNativeBf16);
        Assert.EndsWith("CPU", arm.ModelName);
        Assert.False(string.IsNullOrEmpty(CpuInfo.Current.ModelName));
    }
}
