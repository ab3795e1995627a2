using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Training;

/// <summary>Validation result of a causal LM: nll (nats per predicted token, exact, not a bound), ppl = exp(nll),
/// bpd = nll / ln 2, tokens = predicted tokens (L − 1 per sequence).</summary>
public sealed record CausalLmEvaluation(double Nll, double Ppl, double Bpd, long Tokens, long Sequences)
{
    /// <summary>As a metrics dictionary (nll first).</summary>
    public IReadOnlyDictionary<string, double> ToMetrics() => new Dictionary<string, double>
    {
        ["nll"] = Nll, ["ppl"] = Ppl, ["bpd"] = Bpd, ["tokens"] = Tokens,
    };
}

/// <summary>Autoregressive pre-training of the GPT baseline on the same token files as MDLM: next-token cross-entropy averaged
/// over all B·(L − 1) predicted tokens of a micro-batch. Validation reports the exact NLL per token and its perplexity.</summary>
public sealed class CausalLmObjective : ITrainingObjective
{
    private readonly GptModel _model;
    private readonly bool _ownsModel;

    /// <summary>Trains <paramref name="model"/>; disposes it with the objective when <paramref name="ownsModel"/>.</summary>
    public CausalLmObjective(GptModel model, bool ownsModel = false)
    {
        _model = model;
        _ownsModel = ownsModel;
    }

    /// <inheritdoc />
    public string Name => "ar";
    /// <inheritdoc />
    public nn.Module Model => _model;
    /// <summary>The causal language model.</summary>
    public GptModel Gpt => _model;

    /// <inheritdoc />
    public Tensor Loss(Tensor batch, TrainingContext ctx)
    {
        _model.Precision = ctx.Options.Bf16 ? ModelPrecision.BFloat16 : ModelPrecision.Float32;
        if (batch.shape[1] > _model.Config.NPositions)
            throw new SdttException($"training sequences of {batch.shape[1]} tokens exceed the GPT model's n_positions {_model.Config.NPositions}");
        return _model.Loss(batch);
    }

    /// <inheritdoc />
    public void OnStepStart(TrainingContext ctx) { }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, double> Validate(TokenDataset valid, TrainingContext ctx) =>
        Evaluate(_model, valid, ctx.Options.MicroBatch, ctx.Options.ValBatches).ToMetrics();

    /// <summary>Exact teacher-forced NLL of <paramref name="model"/> on the first <paramref name="maxBatches"/> batches of
    /// <paramref name="data"/> (0 = all), summed in float64. Put the model in eval mode first.</summary>
    public static CausalLmEvaluation Evaluate(GptModel model, TokenDataset data, int batchSize, int maxBatches = 0)
    {
        if (batchSize <= 0) throw new SdttException($"evaluation batch size must be positive (got {batchSize})");
        double sum = 0;
        long tokens = 0, seqs = 0;
        SplitBatches.ForEach(data, batchSize, maxBatches, model.Device, (_, x) =>
        {
            var logp = model.TokenLogProbs(x);
            sum -= logp.to(ScalarType.Float64).sum().item<double>();
            tokens += logp.numel();
            seqs += x.shape[0];
        });
        if (tokens == 0) throw new SdttException("the validation split is empty");
        double nll = sum / tokens;
        return new CausalLmEvaluation(nll, Math.Exp(nll), nll / Math.Log(2), tokens, seqs);
    }

    /// <inheritdoc />
    public void SaveState(string dir) { }

    /// <inheritdoc />
    public void LoadState(string dir) { }

    /// <inheritdoc />
    public void WriteModel(string dir, bool ema, TrainingContext ctx) =>
        GptModelFolder.Save(dir, _model, new JsonObject
        {
            ["objective"] = Name,
            ["step"] = ctx.Step,
            ["weights"] = ema ? "ema" : "raw",
        });

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsModel) _model.Dispose();
    }
}
