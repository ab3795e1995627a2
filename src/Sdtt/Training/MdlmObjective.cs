using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Training;

/// <summary>Options of MDLM pre-training.</summary>
/// <param name="TimeEps">Floor ε of the training time draw t = (1 − ε) u + ε (MDLM: 1e-3; JSON key <c>sampling_eps</c>).</param>
/// <param name="TimeSampling">How t is drawn per micro-batch (MDLM: stratified / "antithetic").</param>
public sealed record MdlmOptions([property: System.Text.Json.Serialization.JsonPropertyName("sampling_eps")] double TimeEps = 1e-3, TimeSampling TimeSampling = TimeSampling.Stratified);

/// <summary>MDLM pre-training (reference B): one t per sequence, x_t ~ q(x_t | x0), loss = the SUBS NELBO with weight 1/t
/// averaged over all tokens, computing the 50k-way output layer only at masked positions. Validation reports the NELBO
/// (nll), its perplexity bound (ppl) and bits per token (bpd).</summary>
public sealed class MdlmObjective : ITrainingObjective
{
    private readonly Dit _model;
    private readonly MdlmOptions _options;
    private readonly LogLinearSchedule _schedule = new();
    private readonly bool _ownsModel;

    /// <summary>Trains <paramref name="model"/>; disposes it with the objective when <paramref name="ownsModel"/>.</summary>
    public MdlmObjective(Dit model, MdlmOptions? options = null, bool ownsModel = false)
    {
        _model = model;
        _options = options ?? new MdlmOptions();
        _ownsModel = ownsModel;
    }

    /// <inheritdoc />
    public string Name => "mdlm";
    /// <inheritdoc />
    public nn.Module Model => _model;
    /// <summary>The diffusion network.</summary>
    public Dit Dit => _model;

    /// <inheritdoc />
    public Tensor Loss(Tensor batch, TrainingContext ctx)
    {
        using var scope = NewDisposeScope();
        var (loss, _) = NelboEvaluator.LossTerms(_model, batch, _options.TimeEps, _options.TimeSampling, ctx.Generator, _schedule);
        return loss.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void OnStepStart(TrainingContext ctx) { }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, double> Validate(TokenDataset valid, TrainingContext ctx) =>
        NelboEvaluator.Evaluate(_model, valid, new NelboOptions(ctx.Options.MicroBatch, ctx.Options.ValBatches, ctx.Options.ValSeed,
            _options.TimeEps, _options.TimeSampling), schedule: _schedule).ToMetrics();

    /// <inheritdoc />
    public void SaveState(string dir) { }

    /// <inheritdoc />
    public void LoadState(string dir) { }

    /// <inheritdoc />
    public void WriteModel(string dir, bool ema, TrainingContext ctx) =>
        ModelFolder.SaveDit(dir, _model, new JsonObject
        {
            ["objective"] = Name,
            ["step"] = ctx.Step,
            ["weights"] = ema ? "ema" : "raw",
            ["sampling_eps"] = _options.TimeEps,
        });

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsModel) _model.Dispose();
    }
}
