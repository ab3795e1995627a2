using System.Globalization;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Training;
using TorchSharp;

namespace Sdtt.Distillation;

/// <summary>The distillation preset chosen when none is given, from the device and the teacher's size.</summary>
/// <param name="Preset">The preset name (<see cref="DistillConfig.PresetNames"/>).</param>
/// <param name="Bf16">Whether to compute in bf16: the preset's choice, except on a CPU without native bf16 (emulated bf16 is
/// slower than fp32).</param>
/// <param name="Reason">One line saying why, with the estimate that decided it.</param>
public sealed record DistillPlan(string Preset, bool Bf16, string Reason);

/// <summary>Picks a preset that fits the device: the paper's (global batch 128, bf16) on a GPU, or on a CPU fast enough
/// to run one of its steps within <see cref="CpuStepBudgetSeconds"/> seconds; otherwise the CPU-sized <c>demo</c>
/// preset (batch 8). bf16 stays on only where the CPU computes it natively (<see cref="CpuInfo.HasNativeBf16"/>).</summary>
public static class DistillDefaults
{
    /// <summary>A CPU whose estimated paper-preset step takes longer than this gets the demo preset.</summary>
    public const double CpuStepBudgetSeconds = 10;

    /// <summary>Forward-equivalent passes per token of one SDTT step: student forward + backward (3) and k teacher forwards.</summary>
    public static double Passes(int k) => 3 + k;

    /// <summary>The plan for a teacher of shape <paramref name="teacher"/> trained on <paramref name="seqLen"/>-token
    /// sequences, on <paramref name="device"/>.</summary>
    public static DistillPlan Choose(DitConfig teacher, int seqLen, torch.Device device, CpuInfo cpu)
    {
        var paper = DistillConfig.Preset("paper");
        if (device.type != DeviceType.CPU) return new DistillPlan("paper", paper.Trainer.Bf16, $"{device} device: the paper's preset");
        bool bf16 = paper.Trainer.Bf16 && cpu.HasNativeBf16;
        double sec = TrainingCost.StepSeconds(teacher, (long)paper.Trainer.GlobalBatch * seqLen, Passes(paper.Rounds.K), bf16, device);
        string bfNote = cpu.HasNativeBf16 ? "native bf16" : "no native bf16, so fp32";
        if (sec <= CpuStepBudgetSeconds)
            return new DistillPlan("paper", bf16, $"CPU ({bfNote}) fast enough for the paper's preset (~{Durations.FormatSeconds(sec)} per step of batch {paper.Trainer.GlobalBatch})");
        return new DistillPlan("demo", false,
            $"CPU with a {teacher.ParameterCount / 1e6:0.#}M-parameter teacher: the paper's preset (batch {paper.Trainer.GlobalBatch}, " +
            $"{(bf16 ? "bf16" : "fp32")}) would take ~{Durations.FormatSeconds(sec)} per step here, so the CPU preset 'demo' (batch 8, fp32); " +
            "pass --config paper to override");
    }

    /// <summary>"estimated ~00:00:02 per step, ETA 3 d 04:00:00 for 70,000 steps" for a run of <paramref name="cfg"/>.</summary>
    public static string Eta(DistillConfig cfg, DitConfig teacher, int seqLen, torch.Device device, long stepsLeft)
    {
        double sec = TrainingCost.StepSeconds(teacher, (long)cfg.Trainer.GlobalBatch * seqLen, Passes(cfg.Rounds.K), cfg.Trainer.Bf16, device);
        return $"estimated ~{Durations.FormatSeconds(sec)} per step, ETA {Durations.FormatSeconds(sec * stepsLeft)} for {stepsLeft.ToString("N0", CultureInfo.InvariantCulture)} steps";
    }
}
