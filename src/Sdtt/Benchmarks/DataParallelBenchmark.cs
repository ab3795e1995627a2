using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.Training;

namespace Sdtt.Benchmarks;

/// <summary>Options of <see cref="DataParallelBenchmark"/>.</summary>
/// <param name="Tool">The command that runs the sdtt tool, e.g. <c>["dotnet", ".../Sdtt.Cli.dll"]</c> (the ranks run it
/// directly: nothing is built while they start).</param>
/// <param name="Config">Training config (a shipped name or a JSON file); demo by default.</param>
/// <param name="Data">A prepared token folder, or null for random tokens (timing does not depend on the text).</param>
/// <param name="Steps">Optimizer steps per configuration.</param>
/// <param name="WarmupSteps">Leading steps left out of the timing (allocation, first-touch).</param>
/// <param name="MicroBatch">Sequences per micro-batch.</param>
/// <param name="GlobalBatch">Sequences per optimizer step (a multiple of 2 × micro-batch).</param>
/// <param name="SeqLen">Sequence length of the random tokens (ignored with <paramref name="Data"/>).</param>
/// <param name="Sets">Extra <c>--set key=value</c> overrides passed to both runs.</param>
/// <param name="OutDir">Folder for the two run folders and dp.csv.</param>
/// <param name="Mpirun">The mpirun program.</param>
/// <param name="TimeoutSeconds">Wall-clock limit of each run.</param>
public sealed record DataParallelBenchOptions(
    IReadOnlyList<string> Tool, string Config = "demo", string? Data = null, int Steps = 12, int WarmupSteps = 2, int MicroBatch = 4,
    int GlobalBatch = 8, int SeqLen = 256, IReadOnlyList<string>? Sets = null, string OutDir = "bench-dp", string Mpirun = "mpirun",
    int TimeoutSeconds = 1800)
{
    /// <summary>Checks the options; throws <see cref="SdttException"/> naming the bad one.</summary>
    public DataParallelBenchOptions Validate()
    {
        if (Tool.Count == 0) throw new SdttException("bench dp: no tool command");
        if (WarmupSteps < 1) throw new SdttException("--warmup must be ≥ 1 (the first step is never timed)");
        if (Steps <= WarmupSteps) throw new SdttException($"--steps {Steps} must exceed --warmup {WarmupSteps}");
        if (MicroBatch <= 0 || GlobalBatch <= 0 || GlobalBatch % (2 * MicroBatch) != 0)
            throw new SdttException($"--global-batch {GlobalBatch} must be a positive multiple of 2 × --micro-batch {MicroBatch} (it is split over 2 ranks)");
        if (SeqLen < 2) throw new SdttException("--seq-len must be ≥ 2");
        if (Data is not null && !Directory.Exists(Data)) throw new SdttException($"{Data}: no such data folder");
        return this;
    }
}

/// <summary>One measured configuration.</summary>
/// <param name="Name">"1 process × 2 threads" or "2 ranks × 1 thread".</param>
/// <param name="Processes">Processes (ranks).</param>
/// <param name="ThreadsPerProcess">libtorch threads of each.</param>
/// <param name="StepSeconds">Mean wall time of a timed optimizer step.</param>
/// <param name="TokensPerSecond">Global batch tokens per second.</param>
/// <param name="AllReduceMegabytes">Gradient bytes each rank sends into the all-reduce per step (0 for one process).</param>
/// <param name="AllReduceSeconds">Mean time per step spent in the gradient all-reduce (copies included; 0 for one process).</param>
/// <param name="FinalLoss">Training loss of the last step (the two runs compute the same numbers).</param>
public sealed record DataParallelBenchRow(string Name, int Processes, int ThreadsPerProcess, double StepSeconds, double TokensPerSecond,
    double AllReduceMegabytes, double AllReduceSeconds, double FinalLoss);

/// <summary>Times training with the same global batch as 1 process × 2 libtorch threads and as 2 MPI ranks × 1 thread each
/// (<c>mpirun -np 2</c>), from the runs' metrics.jsonl: step time, tokens/s, bytes all-reduced and time in the all-reduce.</summary>
public static class DataParallelBenchmark
{
    /// <summary>Runs both configurations (single process first) and writes OutDir/dp.csv.</summary>
    public static IReadOnlyList<DataParallelBenchRow> Run(DataParallelBenchOptions o, Action<string>? log = null)
    {
        o.Validate();
        Directory.CreateDirectory(o.OutDir);
        string data = o.Data ?? RandomTokens(Path.Combine(o.OutDir, "data"), o.SeqLen);
        var rows = new List<DataParallelBenchRow>();
        foreach (var (ranks, threads) in new[] { (1, 2), (2, 1) })
        {
            string name = ranks == 1 ? "1 process × 2 threads" : "2 ranks × 1 thread";
            string run = Path.Combine(o.OutDir, ranks == 1 ? "one-process" : "two-ranks");
            if (Directory.Exists(run)) Directory.Delete(run, true);
            log?.Invoke($"{name}: {o.Steps} steps into {run}");
            var args = new List<string> { "train", "--config", o.Config, "--data", data, "--out", run, "--threads", threads.ToString(CultureInfo.InvariantCulture) };
            foreach (var s in new[] { $"max_steps={o.Steps}", $"micro_batch={o.MicroBatch}", $"global_batch={o.GlobalBatch}", "log_every=1",
                         "eval_every=0", "checkpoint_every=0", "val_batches=1" }.Concat(o.Sets ?? Array.Empty<string>()))
            { args.Add("--set"); args.Add(s); }
            RunProcess(ranks, args, o);
            rows.Add(Measure(name, ranks, threads, run, o));
        }
        var csv = new StringBuilder("configuration,processes,threads_per_process,step_s,tokens_per_s,allreduce_mb_per_step,allreduce_s_per_step,final_loss\n");
        foreach (var r in rows)
            csv.AppendLine(string.Join(',', r.Name, r.Processes, r.ThreadsPerProcess, F(r.StepSeconds), F(r.TokensPerSecond), F(r.AllReduceMegabytes),
                F(r.AllReduceSeconds), F(r.FinalLoss)));
        File.WriteAllText(Path.Combine(o.OutDir, "dp.csv"), csv.ToString());
        return rows;
    }

    /// <summary>A Markdown table of the rows.</summary>
    public static string Markdown(IReadOnlyList<DataParallelBenchRow> rows)
    {
        var sb = new StringBuilder("| configuration | step time (s) | tokens/s | all-reduced per step (MB) | all-reduce time per step (s) | last loss |\n|---|---:|---:|---:|---:|---:|\n");
        foreach (var r in rows)
            sb.AppendLine($"| {r.Name} | {r.StepSeconds:F3} | {r.TokensPerSecond:F0} | {r.AllReduceMegabytes:F2} | {r.AllReduceSeconds:F4} | {r.FinalLoss:F4} |");
        return sb.ToString();
    }

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static DataParallelBenchRow Measure(string name, int ranks, int threads, string run, DataParallelBenchOptions o)
    {
        var train = new MetricsLog(Path.Combine(run, Trainer.MetricsFile)).Read().Where(r => r["kind"]?.GetValue<string>() == "train").ToList();
        double At(long step, string key) => train.Single(r => r["step"]!.GetValue<long>() == step)[key]!.GetValue<double>();
        int timed = o.Steps - o.WarmupSteps;
        double stepS = (At(o.Steps, "elapsed_s") - At(o.WarmupSteps, "elapsed_s")) / timed;
        var m = ModelTokens(run);
        double tps = (double)o.GlobalBatch * m / stepS;
        double mb = 0, ar = 0;
        if (ranks > 1)
        {
            var timedRows = train.Where(r => r["step"]!.GetValue<long>() > o.WarmupSteps).ToList();
            mb = timedRows[0]["allreduce_mb"]!.GetValue<double>();
            ar = timedRows.Average(r => r["allreduce_ms"]!.GetValue<double>()) / 1000;
        }
        return new DataParallelBenchRow(name, ranks, threads, stepS, tps, mb, ar, At(o.Steps, "loss"));
    }

    private static int ModelTokens(string run)
    {
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "train_config.json")))!;
        return cfg["model"]!["length"]!.GetValue<int>();
    }

    private static void RunProcess(int ranks, List<string> args, DataParallelBenchOptions o)
    {
        var exe = ranks == 1 ? o.Tool[0] : o.Mpirun;
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (ranks > 1)
        {
            if (Environment.UserName == "root") psi.ArgumentList.Add("--allow-run-as-root");
            foreach (var a in new[] { "--mca", "btl", "self,vader", "-np", ranks.ToString(CultureInfo.InvariantCulture), o.Tool[0] }) psi.ArgumentList.Add(a);
            // Containers often forbid the cross-memory-attach copies of Open MPI's shared-memory transport.
            if (Environment.GetEnvironmentVariable("OMPI_MCA_btl_vader_single_copy_mechanism") is null)
                psi.Environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none";
        }
        foreach (var a in o.Tool.Skip(1).Concat(args)) psi.ArgumentList.Add(a);
        psi.Environment["CI"] = "1";
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new SdttException($"bench dp: cannot start {exe} ({e.Message}){(ranks > 1 ? "; install Open MPI (openmpi-bin) or pass --mpirun PATH" : "")}"); }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(o.TimeoutSeconds)))
            {
                p.Kill(entireProcessTree: true);
                throw new SdttException($"bench dp: the {ranks}-process run took longer than {o.TimeoutSeconds} s and was stopped");
            }
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                var err = stderr.Result.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal)) ?? $"exit code {p.ExitCode}";
                throw new SdttException($"bench dp: the {ranks}-process run failed: {err}");
            }
        }
    }

    private static string RandomTokens(string dir, int seqLen)
    {
        if (File.Exists(Path.Combine(dir, TokenDataset.ManifestFile))) Directory.Delete(dir, true);
        Directory.CreateDirectory(dir);
        var rng = new Random(1);
        IEnumerable<int[]> Seqs(int n) => Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, seqLen).Select(_ => rng.Next(Gpt2Tokenizer.ModelVocabSize - 2)).ToArray());
        TokenDataset.Write(Path.Combine(dir, "train.bin"), Seqs(256), seqLen);
        TokenDataset.Write(Path.Combine(dir, "valid.bin"), Seqs(16), seqLen);
        File.WriteAllText(Path.Combine(dir, TokenDataset.ManifestFile), new JsonObject
        {
            ["seq_len"] = seqLen,
            ["splits"] = new JsonObject { ["train"] = new JsonObject { ["file"] = "train.bin" }, ["valid"] = new JsonObject { ["file"] = "valid.bin" } },
        }.ToJsonString());
        return dir;
    }
}
