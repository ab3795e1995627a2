using Sdtt.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Training;

/// <summary>What the shared <see cref="Trainer"/> optimises: MDLM pre-training, SDTT distillation and the autoregressive
/// baseline each implement this once and reuse the loop (accumulation, clipping, AdamW, warm-up, EMA, validation,
/// checkpoints, exact resume, metrics).</summary>
public interface ITrainingObjective : IDisposable
{
    /// <summary>Short name written into metrics and checkpoints ("mdlm", "sdtt", "ar").</summary>
    string Name { get; }

    /// <summary>The module that is optimised and EMA'd (its trainable parameters, in registration order).</summary>
    nn.Module Model { get; }

    /// <summary>Scalar mean loss of one micro-batch of token sequences [B, L] (int64, on the training device), with grad.
    /// Draw every random number from <see cref="TrainingContext.Generator"/> (dropout uses the global generator, which the
    /// trainer reseeds every step). May add metrics with <see cref="TrainingContext.AddMetric"/>.</summary>
    Tensor Loss(Tensor batch, TrainingContext ctx);

    /// <summary>Called at the start of every optimizer step (before its first micro-batch) with
    /// <see cref="TrainingContext.Step"/> = number of optimizer steps already done (Lightning's global_step).
    /// SDTT switches rounds here (copy the student to the teacher, reset <see cref="TrainingContext.Ema"/>, reset the optimizer
    /// with <see cref="TrainingContext.ResetOptimizer"/>).</summary>
    void OnStepStart(TrainingContext ctx);

    /// <summary>Validation metrics on <paramref name="valid"/>. Called with the EMA weights swapped into <see cref="Model"/>,
    /// the model in eval mode and gradients off. Use a fixed seed so repeated evaluations are comparable.
    /// The FIRST entry is the headline metric plotted against the training loss (MDLM: "nll").</summary>
    IReadOnlyDictionary<string, double> Validate(TokenDataset valid, TrainingContext ctx);

    /// <summary>Writes the objective's extra state (e.g. SDTT teacher weights and round) into an (existing, empty) folder
    /// of a checkpoint being written.</summary>
    void SaveState(string dir);

    /// <summary>Restores what <see cref="SaveState"/> wrote (called on resume after the model, EMA and optimizer are restored).</summary>
    void LoadState(string dir);

    /// <summary>Writes the final model folder <paramref name="dir"/> (MDLM: config.json + model.safetensors). The trainer calls it
    /// with the EMA weights already swapped into <see cref="Model"/> when <paramref name="ema"/> is true.</summary>
    void WriteModel(string dir, bool ema, TrainingContext ctx);
}
