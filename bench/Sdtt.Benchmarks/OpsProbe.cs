using System.Diagnostics;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Benchmarks;

/// <summary>Times the elementwise pieces of one sampler chunk [rows, V] (diagnostics).</summary>
public static class OpsProbe
{
    public static int Run(string[] args)
    {
        TorchRuntime.EnsureLoaded();
        if (args.Length > 0) set_num_threads(int.Parse(args[0]));
        long n = args.Length > 1 ? long.Parse(args[1]) : 128, v = 50258;
        using var g = new Generator(1);
        void T(string name, Func<Tensor> f)
        {
            f().Dispose();
            var w = Stopwatch.StartNew();
            for (int i = 0; i < 3; i++) f().Dispose();
            Console.WriteLine($"{name,-28} {w.Elapsed.TotalMilliseconds / 3 / (n * v) * 1e6:0.0} ns/elem  ({w.Elapsed.TotalMilliseconds / 3:0.0} ms)");
        }
        using var x32 = rand(n, v);
        using var x64 = rand(n, v, dtype: ScalarType.Float64);
        T("rand f32 (generator)", () => rand(new[] { n, v }, generator: g));
        T("rand f64 (generator)", () => rand(new[] { n, v }, dtype: ScalarType.Float64, generator: g));
        var xo = new Sdtt.Sampling.XoshiroUniformSource(1);
        using var rows = arange(n);
        var buf = new double[n * v];
        var bf = new float[n * v];
        var w0 = Stopwatch.StartNew();
        for (int i = 0; i < 3; i++) xo.Fill(buf);
        Console.WriteLine($"fill f64 only {w0.Elapsed.TotalMilliseconds / 3:0.0} ms");
        for (int k = 0; k < 3; k++)
        {
            w0.Restart();
            for (int i = 0; i < 10; i++) xo.Fill(buf);
            Console.WriteLine($"fill f64 only (warm) {w0.Elapsed.TotalMilliseconds / 10:0.0} ms");
            w0.Restart();
            for (int i = 0; i < 10; i++) xo.Fill(bf);
            Console.WriteLine($"fill f32 only (warm) {w0.Elapsed.TotalMilliseconds / 10:0.0} ms");
        }
        w0.Restart();
        for (int i = 0; i < 3; i++) xo.Fill(bf);
        Console.WriteLine($"fill f32 only {w0.Elapsed.TotalMilliseconds / 3:0.0} ms");
        using var e64 = empty(new[] { n, v }, dtype: ScalarType.Float64);
        w0.Restart();
        for (int i = 0; i < 3; i++) e64.bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(buf.AsSpan());
        Console.WriteLine($"bytes set f64 {w0.Elapsed.TotalMilliseconds / 3:0.0} ms");
        using (var chk = xo.Draw(rows, 1, n, v, ScalarType.Float64, CPU))
            Console.WriteLine($"xoshiro check: mean {chk.mean().item<double>():0.0000} min {chk.min().item<double>()} max {chk.max().item<double>()}");
        T("xoshiro f64", () => xo.Draw(rows, 1, n, v, ScalarType.Float64, CPU));
        T("xoshiro f32", () => xo.Draw(rows, 1, n, v, ScalarType.Float32, CPU));
        T("rand f32 (global)", () => rand(new[] { n, v }));
        T("log f32", () => x32.log());
        T("log f64", () => x64.log());
        T("exp f32", () => x32.exp());
        T("div f64", () => x64 / x64);
        T("argmax f64", () => x64.argmax(-1));
        T("to f64", () => x32.to(ScalarType.Float64));
        T("logsumexp f32", () => x32.logsumexp(-1, true));
        using var y64 = x64.clone();
        T("log_ f64 in place", () => y64.log_().alias());
        using var y32 = x32.clone();
        T("log_ f32 in place", () => y32.log_().alias());
        T("div_ f64 in place", () => y64.div_(x64).alias());
        T("clone f64", () => x64.clone());
        return 0;
    }
}
