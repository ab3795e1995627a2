using Sdtt.Distillation;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Evaluation;
using static TorchSharp.torch;

namespace Sdtt.Workflows;

/// <summary>The per-round quick evaluation of <c>sdtt distill --judge</c>: checks the judge folder once, then runs
/// <see cref="RoundEvaluator"/> on each finished round's EMA student.</summary>
public static class RoundJudge
{
    /// <summary>Checks <paramref name="judgeDir"/> now (a GPT-2 folder covering <paramref name="seqLen"/> positions) and
    /// returns the evaluation of a finished round: <paramref name="samples"/> samples at the student's step count.</summary>
    public static Func<FinishedRound, IReadOnlyList<KeyValuePair<string, double>>> Create(string judgeDir, int samples, int seqLen, Device device, long seed)
    {
        if (samples < 1) throw new SdttException($"--eval-samples must be ≥ 1 (got {samples})");
        if (!Directory.Exists(judgeDir)) throw new SdttException($"--judge {judgeDir}: model folder not found");
        if (!GptModelFolder.IsGptFolder(judgeDir))
            throw new SdttException($"--judge {judgeDir}: not an autoregressive (GPT-2) model folder{(File.Exists(Path.Combine(judgeDir, ModelFolder.ConfigFile)) ? " (a diffusion model cannot judge; train one with `sdtt train --model-type ar`)" : "")}");
        GptModelFolder.Load(judgeDir).Dispose(); // the weights load now, not after the first round
        var judgeCfg = GptModelFolder.ReadConfig(judgeDir);
        if (judgeCfg.NPositions < seqLen) throw new SdttException($"{judgeDir}: the judge handles {judgeCfg.NPositions} positions, the samples have {seqLen}");
        return info =>
        {
            using var judge = new GptJudge(GptModelFolder.Load(judgeDir, device));
            using var student = ModelFolder.LoadDit(info.EmaDir, device);
            return RoundEvaluator.Evaluate(student, judge, info.StudentSteps, samples, seqLen, seed + 1000L * info.Round);
        };
    }
}
