using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;
using Sdtt.Training;

namespace Sdtt.Tests.Training;

/// <summary>The MDLM objective's masked-rows-only loss equals the full-logits reference form; the NELBO evaluator is
/// deterministic under its seed.</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)]
public class MdlmObjectiveTests : IDisposable
{
    private readonly TempFolders _tmp = new();
    /// <summary>Removes the test's temporary folders, also when an assertion failed.</summary>
    public void Dispose() => _tmp.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MaskedRowsLossEqualsFullLogitsReference(bool timeConditioning)
    {
        using var scope = NewDisposeScope();
        using var model = TrainingFixtures.NewModel(dropout: 0, timeConditioning: timeConditioning);
        TrainingFixtures.Perturb(model);
        model.eval();
        var g = new Generator(42);
        var x0 = randint(0, TrainingFixtures.Vocab - 1, new long[] { 6, TrainingFixtures.SeqLen }, generator: g);
        var schedule = new LogLinearSchedule();
        var t = TimeSampler.Sample(6, 1e-3, TimeSampling.Stratified, generator: g);
        var xt = ForwardProcess.Mask(x0, schedule.MoveChance(t), model.MaskIndex, g);
        Assert.True(xt.eq(model.MaskIndex).any().item<bool>());
        Assert.True(xt.ne(model.MaskIndex).any().item<bool>());
        var sigma = schedule.Sigma(t);
        using var _ = no_grad();
        var reference = MdlmLoss.PerToken(model.LogProbs(xt, sigma), x0, t, schedule).mean().item<float>();
        var (fast, rows) = MdlmLoss.Compute(model, x0, xt, t, schedule, sigma);
        Assert.True(reference > 0.5);
        Assert.Equal(reference, fast.item<float>(), 4);
        Assert.True(Math.Abs(reference - fast.item<float>()) <= 1e-5 * reference);
        Assert.True(Golden.MaxAbsDiff(rows, MdlmLoss.PerToken(model.LogProbs(xt, sigma), x0, t, schedule).sum(1)) < 1e-3);
        if (timeConditioning) // sigma is really used: dropping it changes the loss
        {
            var (noSigma, _) = MdlmLoss.Compute(model, x0, xt, t, schedule);
            Assert.NotEqual(fast.item<float>(), noSigma.item<float>());
        }
    }

    [Fact]
    public void ObjectiveLossIsTheReferenceNelboOfItsOwnDraws()
    {
        using var scope = NewDisposeScope();
        using var model = TrainingFixtures.NewModel(dropout: 0);
        TrainingFixtures.Perturb(model);
        using var objective = new MdlmObjective(model);
        var ctx = Sdtt.Training.TrainingContext.Standalone(model, seed: 77);
        var x0 = randint(0, TrainingFixtures.Vocab - 1, new long[] { 8, TrainingFixtures.SeqLen }, generator: new Generator(5));
        var loss = objective.Loss(x0, ctx);
        Assert.True(loss.requires_grad);
        // Replay the same draws (stratified t with ε = 1e-3, then the masks) from a generator with the same seed.
        var g = new Generator(77);
        var schedule = new LogLinearSchedule();
        var t = TimeSampler.Sample(8, 1e-3, TimeSampling.Stratified, generator: g);
        var sorted = t.sort().Values;
        for (int i = 0; i < 8; i++) // one t per stratum [i/8, (i+1)/8)
            Assert.InRange(sorted[i].item<float>(), (1 - 1e-3) * i / 8 + 1e-3 - 1e-6, (1 - 1e-3) * (i + 1) / 8 + 1e-3 + 1e-6);
        var xt = ForwardProcess.Mask(x0, schedule.MoveChance(t), model.MaskIndex, g);
        using var _ = no_grad();
        var reference = MdlmLoss.PerToken(model.LogProbs(xt, schedule.Sigma(t)), x0, t, schedule).mean().item<float>();
        Assert.True(Math.Abs(reference - loss.item<float>()) <= 1e-5 * reference, $"objective {loss.item<float>()} vs reference {reference}");
        ctx.Ema.Dispose();
        ctx.Optimizer.Dispose();
        ctx.Generator.Dispose();
    }

    [Fact]
    public void NelboEvaluationIsSeededAndConsistent()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 8, nValid: 10));
        using var valid = TokenDataset.Open(data, "valid");
        using var model = TrainingFixtures.NewModel(dropout: 0);
        TrainingFixtures.Perturb(model);
        model.eval();
        var a = NelboEvaluator.Evaluate(model, valid, new NelboOptions(BatchSize: 4, Seed: 9));
        var b = NelboEvaluator.Evaluate(model, valid, new NelboOptions(BatchSize: 4, Seed: 9));
        var c = NelboEvaluator.Evaluate(model, valid, new NelboOptions(BatchSize: 4, Seed: 10));
        Assert.Equal(a, b);
        Assert.NotEqual(a.Nll, c.Nll);
        Assert.Equal(10 * TrainingFixtures.SeqLen, a.Tokens); // the last partial batch (2 of 4) is included
        Assert.Equal(10, a.Sequences);
        Assert.Equal(Math.Exp(a.Nll), a.Ppl, 9);
        Assert.Equal(a.Nll / Math.Log(2), a.Bpd, 12);
        var one = NelboEvaluator.Evaluate(model, valid, new NelboOptions(BatchSize: 4, MaxBatches: 1, Seed: 9));
        Assert.Equal(4 * TrainingFixtures.SeqLen, one.Tokens);
    }
}
