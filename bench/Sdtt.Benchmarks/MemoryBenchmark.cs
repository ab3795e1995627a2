using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Sdtt.Diffusion;
using Sdtt.Distillation;
using Sdtt.Models;
using Sdtt.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Benchmarks;

/// <summary><c>memory [--size tiny|demo|…] [--batch 8] [--seq-len 256] [--threads 1]</c>: peak resident memory of one SDTT
/// distillation step (teacher targets + student forward/backward + AdamW) against one plain MDLM training step at the same
/// batch. Each measurement runs in a fresh child process (this executable with <c>memory-child</c>): it builds the models and
/// the batch, resets the kernel's peak-RSS counter (<c>/proc/self/clear_refs</c> ← 5), runs one optimizer step, and reads
/// VmHWM from <c>/proc/self/status</c>. Reported: resident memory before the step, the peak during it, and their difference
/// (what the step itself allocates), plus the ratio of the distillation peak to the MDLM peak.</summary>
internal static class MemoryBenchmark
{
    public static int Run(string[] args)
    {
        string size = Arg(args, "--size", "demo");
        int batch = int.Parse(Arg(args, "--batch", "8"), CultureInfo.InvariantCulture);
        int seqLen = int.Parse(Arg(args, "--seq-len", "256"), CultureInfo.InvariantCulture);
        string threads = Arg(args, "--threads", "1");
        var cfg = DitConfig.FromName(size);
        Console.WriteLine($"memory: {size} DiT ({cfg.ParameterCount:N0} parameters, vocab {cfg.VocabSize}), batch {batch} × {seqLen} tokens, CPU, {threads} thread(s)");
        Console.WriteLine("method: one fresh child process per row; peak RSS counter reset after setup; VmHWM after one optimizer step");
        var rows = new List<(string Name, JsonObject R)>();
        foreach (var mode in new[] { "mdlm", "sdtt", "sdtt-bf16" })
        {
            var r = Child(mode, size, batch, seqLen, threads);
            rows.Add((mode, r));
        }
        Console.WriteLine();
        Console.WriteLine($"{"step",-34} {"RSS before",12} {"peak",12} {"step extra",12}");
        foreach (var (name, r) in rows)
        {
            string label = name switch
            {
                "mdlm" => "MDLM training step",
                "sdtt" => "SDTT step (fp32 targets)",
                _ => "SDTT step (bf16 targets)",
            };
            Console.WriteLine($"{label,-34} {Mb(r["rss_before_kb"]),12} {Mb(r["peak_kb"]),12} {Mb(r["peak_kb"]!.GetValue<long>() - r["rss_before_kb"]!.GetValue<long>()),12}");
        }
        var m = rows[0].R;
        foreach (var (name, r) in rows.Skip(1))
        {
            double ratio = r["peak_kb"]!.GetValue<double>() / m["peak_kb"]!.GetValue<double>();
            double extraRatio = (r["peak_kb"]!.GetValue<double>() - r["rss_before_kb"]!.GetValue<double>()) /
                Math.Max(1, m["peak_kb"]!.GetValue<double>() - m["rss_before_kb"]!.GetValue<double>());
            Console.WriteLine($"ratio {name} / mdlm: peak {ratio:F2}×, step extra {extraRatio:F2}×" +
                $" (masked rows {r["masked_rows"]}, target rows {r["target_bytes"]!.GetValue<long>() / 1e6:F1} MB, loss {r["loss"]})");
        }
        double full = (double)batch * seqLen * cfg.VocabSize * 4;
        Console.WriteLine($"for scale: a dense B×L×V float32 target tensor would take {full / 1e6:F1} MB");
        return 0;
    }

    private static string Mb(JsonNode? kb) => Mb(kb!.GetValue<long>());
    private static string Mb(long kb) => $"{kb / 1024.0:F1} MB";

    private static JsonObject Child(string mode, string size, int batch, int seqLen, string threads)
    {
        var exe = Environment.ProcessPath ?? throw new SdttException("cannot find this executable to start a child process");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "memory-child", mode, size, batch.ToString(CultureInfo.InvariantCulture), seqLen.ToString(CultureInfo.InvariantCulture), threads })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new SdttException($"memory child '{mode}' failed ({p.ExitCode}): {stderr.Trim().Split('\n')[^1]}");
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        return JsonNode.Parse(line)!.AsObject();
    }

    /// <summary>The child: one optimizer step of <paramref name="args"/>[1] ∈ mdlm | sdtt | sdtt-bf16, JSON on stdout.</summary>
    public static int ChildMain(string[] args)
    {
        string mode = args[1];
        var cfg = DitConfig.FromName(args[2]);
        int batch = int.Parse(args[3], CultureInfo.InvariantCulture), seqLen = int.Parse(args[4], CultureInfo.InvariantCulture);
        int threads = int.Parse(args[5], CultureInfo.InvariantCulture);
        TorchRuntime.EnsureLoaded();
        if (threads > 0) set_num_threads(threads);
        manual_seed(1);
        using var student = new Dit(cfg);
        using (no_grad())
            foreach (var p in student.parameters()) p.add_(randn_like(p) * 0.02); // non-trivial outputs
        Dit? teacher = null;
        if (mode != "mdlm")
        {
            teacher = new Dit(cfg);
            using var _ = no_grad();
            var src = student.state_dict();
            foreach (var (k, t) in teacher.state_dict()) t.copy_(src[k]);
        }
        var gen = new Generator(2);
        var x0 = randint(0, cfg.VocabSize - 1, new long[] { batch, seqLen }, generator: gen);
        student.train();
        using var opt = optim.AdamW(student.parameters(), 1e-4);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long rssBefore = Status("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5"); // reset VmHWM to the current RSS
        long maskedRows = 0, targetBytes = 0;
        double lossValue;
        var sw = Stopwatch.StartNew();
        using (var scope = NewDisposeScope())
        {
            Tensor loss;
            if (mode == "mdlm")
            {
                (loss, _) = NelboEvaluator.LossTerms(student, x0, 1e-3, TimeSampling.Stratified, gen, new LogLinearSchedule());
            }
            else
            {
                var schedule = new SdttSchedule();
                var options = new SdttOptions(StoreTargetsBf16: mode == "sdtt-bf16");
                using var objective = new SdttObjective(student, teacher!, schedule, options);
                // Same computation as SdttObjective.Loss, split to report the target size.
                var noise = new LogLinearSchedule();
                var t = TimeSampler.Sample(batch, 1e-5, TimeSampling.Lattice, null, gen);
                var xt = ForwardProcess.Mask(x0, noise.MoveChance(t), cfg.MaskIndex, gen);
                using var targets = TeacherTargets.Compute(teacher!, xt, t, schedule.Dt(0), new Sampling.GeneratorUniformSource(3), noise, options.Targets(2));
                maskedRows = targets.Count;
                targetBytes = targets.RowBytes;
                loss = DistillationLoss.Compute(student, xt, targets, options.Loss);
            }
            loss.backward();
            opt.step();
            opt.zero_grad();
            lossValue = loss.item<float>();
        }
        long peak = Status("VmHWM");
        teacher?.Dispose();
        var r = new JsonObject
        {
            ["mode"] = mode, ["rss_before_kb"] = rssBefore, ["peak_kb"] = peak, ["masked_rows"] = maskedRows,
            ["target_bytes"] = targetBytes, ["loss"] = Math.Round(lossValue, 6), ["seconds"] = sw.Elapsed.TotalSeconds,
        };
        Console.WriteLine(r.ToJsonString());
        return 0;
    }

    private static long Status(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key + ":"))
                return long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        throw new SdttException($"/proc/self/status has no {key} (peak RSS needs Linux)");
    }

    private static string Arg(string[] args, string name, string def)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0) return def;
        if (i + 1 >= args.Length) throw new SdttException($"{name} needs a value");
        return args[i + 1];
    }
}
