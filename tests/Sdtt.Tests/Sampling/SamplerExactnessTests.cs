using Sdtt.Diffusion;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Sampling;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Sdtt.Tests.Sampling;

/// <summary>Proof by test that the samplers are exact: on an analytic denoiser (3 real tokens + MASK, L = 3, 4 steps,
/// ε = 0.3 so masks survive to the greedy fill, p(x0 | x_t) strongly context-dependent, optionally time-dependent) the
/// exact distribution of the final sequence is enumerated over all 4^3 intermediate states, and the samplers' empirical
/// distributions over n draws must lie within a total-variation bound of it. The bound is the Bretagnolle–Huber–Carol
/// inequality, P(TV ≥ τ) ≤ 2^K·exp(−2nτ²), at a false-alarm probability of 1e-6 (K = 27 outcomes). The test has power:
/// variants whose reveal probability is off by ±5 % are ≥ 5τ from the truth (exactly computed) and fail it.</summary>
public class SamplerExactnessTests(ITestOutputHelper output)
{
    private const int Real = 3, V = Real + 1, Mask = Real, L = 3, Steps = 4;
    private const double Eps = 0.3, FalseAlarm = 1e-6;
    private const int N = 600_000;

    /// <summary>τ with P(TV ≥ τ) ≤ <see cref="FalseAlarm"/> for n draws from K outcomes.</summary>
    private static double Threshold(int n, int k) => Math.Sqrt((k * Math.Log(2) + Math.Log(1 / FalseAlarm)) / (2.0 * n));

    public static IEnumerable<object[]> Cases()
    {
        foreach (var sampler in new[] { SamplerRegistry.RevealFirst, SamplerRegistry.Ancestral })
            foreach (var c in new[] { "context", "time", "temperature", "top-p", "fixed" })
                yield return new object[] { sampler, c };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SamplerMatchesTheExactDistribution(string sampler, string kind)
    {
        var (model, options) = Case(kind);
        var exact = ExactDistribution(model, options, revealScale: 1.0);
        var empirical = Empirical(SamplerRegistry.Get(sampler), model, options);
        double tv = TotalVariation(exact, empirical);
        double tau = Threshold(N, 27);
        output.WriteLine($"{sampler}/{kind}: TV = {tv:F5}, threshold {tau:F5}");
        Assert.True(Math.Abs(exact.Values.Sum() - 1) < 1e-12, "the exact distribution must sum to 1");
        Assert.True(tv < tau, $"{sampler} on '{kind}': TV {tv:F5} from the exact distribution exceeds the bound {tau:F5}");
    }

    [Theory]
    [InlineData(1.05)]
    [InlineData(0.95)]
    public void TestHasPowerAgainstAWrongRevealProbability(double scale)
    {
        var (model, options) = Case("time");
        var exact = ExactDistribution(model, options, 1.0);
        var wrong = ExactDistribution(model, options, scale);
        double distance = TotalVariation(exact, wrong);
        double tau = Threshold(N, 27);
        var empirical = Empirical(new RevealFirstSampler { RevealScale = scale }, model, options);
        double tv = TotalVariation(exact, empirical);
        output.WriteLine($"reveal × {scale}: exact distance {distance:F5} (threshold {tau:F5}), sampled TV {tv:F5}");
        Assert.True(distance >= 5 * tau, $"the ±5 % variant is only {distance:F5} from the truth, less than 5τ = {5 * tau:F5}");
        Assert.True(tv >= tau, $"the test did not detect the reveal × {scale} variant (TV {tv:F5} < τ {tau:F5})");
    }

    private static (AnalyticDenoiser, SamplingOptions) Case(string kind)
    {
        TorchRuntime.EnsureLoaded();
        var o = new SamplingOptions { Steps = Steps, NumSamples = N, SeqLen = L, GridEps = Eps, Seed = 20260 };
        return kind switch
        {
            "time" => (new AnalyticDenoiser(timeConditioned: true), o),
            "temperature" => (new AnalyticDenoiser(false), o with { Temperature = 0.6 }),
            "top-p" => (new AnalyticDenoiser(false), o with { TopP = 0.75 }),
            "fixed" => (new AnalyticDenoiser(false), o with { Constraint = TokenConstraint.At(new[] { new KeyValuePair<int, long>(1, 2) }) }),
            _ => (new AnalyticDenoiser(false), o),
        };
    }

    private static Dictionary<int, double> Empirical(ISampler sampler, IDenoiser model, SamplingOptions o)
    {
        var r = sampler.Sample(model, o);
        var counts = new Dictionary<int, double>();
        foreach (var row in r.Tokens)
        {
            Assert.DoesNotContain((long)Mask, row);
            int key = Encode(row.Select(t => (int)t).ToArray());
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        foreach (var k in counts.Keys.ToList()) counts[k] /= r.Tokens.Length;
        return counts;
    }

    private static double TotalVariation(Dictionary<int, double> p, Dictionary<int, double> q) =>
        0.5 * p.Keys.Union(q.Keys).Sum(k => Math.Abs(p.GetValueOrDefault(k) - q.GetValueOrDefault(k)));

    private static int Encode(int[] x) => x[0] * 16 + x[1] * 4 + x[2];

    /// <summary>The exact law of the final sequence under the ancestral update: per step every masked position
    /// independently stays masked with probability 1 − r (r = (m_t − m_s)/m_t, times <paramref name="revealScale"/> for
    /// the wrong variants) or takes v with probability r·p̃(v | x, t) (p̃ shaped by temperature/top-p); masks left after
    /// the last step take argmax p(· | x, ε).</summary>
    private static Dictionary<int, double> ExactDistribution(AnalyticDenoiser model, SamplingOptions o, double revealScale)
    {
        var scheduler = new AncestralScheduler(o.Steps, o.GridEps);
        var fixedPos = new int?[L];
        if (o.Constraint is not null)
        {
            var (f, t) = o.Constraint.ToTensors(1, L, CPU);
            using (f) using (t)
            {
                var fa = f.data<bool>().ToArray();
                var ta = t.data<long>().ToArray();
                for (int i = 0; i < L; i++) if (fa[i]) fixedPos[i] = (int)ta[i];
            }
        }
        var start = Enumerable.Range(0, L).Select(i => fixedPos[i] ?? Mask).ToArray();
        var dist = new Dictionary<int, (int[] X, double P)> { [Encode(start)] = (start, 1.0) };
        for (int i = 0; i < o.Steps; i++)
        {
            double t, r;
            using (var scope = NewDisposeScope())
            {
                var st = scheduler.Step(i);
                t = st.T.item<float>();
                r = Math.Min(1.0, st.RevealProbability.to(ScalarType.Float64).item<double>() * revealScale);
            }
            var next = new Dictionary<int, (int[] X, double P)>();
            foreach (var (x, px) in dist.Values)
            {
                var outcomes = new List<(int[] X, double P)> { ((int[])x.Clone(), px) };
                for (int j = 0; j < L; j++)
                {
                    if (x[j] != Mask) continue;
                    var p = Shape(model.Probabilities(x, j, t), o.Temperature, o.TopP);
                    var grown = new List<(int[] X, double P)>();
                    foreach (var (y, py) in outcomes)
                    {
                        grown.Add((y, py * (1 - r)));
                        for (int v = 0; v < Real; v++)
                        {
                            if (p[v] == 0) continue;
                            var z = (int[])y.Clone();
                            z[j] = v;
                            grown.Add((z, py * r * p[v]));
                        }
                    }
                    outcomes = grown;
                }
                foreach (var (y, py) in outcomes)
                {
                    int key = Encode(y);
                    next[key] = next.TryGetValue(key, out var e) ? (e.X, e.P + py) : (y, py);
                }
            }
            dist = next;
        }
        double tEps;
        using (var te = scheduler.TimeAt(o.Steps)) tEps = te.item<float>();
        var final = new Dictionary<int, double>();
        foreach (var (x, px) in dist.Values)
        {
            var y = (int[])x.Clone();
            for (int j = 0; j < L; j++)
            {
                if (x[j] != Mask) continue;
                var p = model.Probabilities(x, j, tEps);       // the fill sees the state after the last step
                y[j] = Array.IndexOf(p, p.Max());
            }
            int key = Encode(y);
            final[key] = final.GetValueOrDefault(key) + px;
        }
        return final;
    }

    /// <summary>Temperature then nucleus, as <see cref="ProbabilityShaping"/> defines them, in float64.</summary>
    private static double[] Shape(double[] p, double temperature, double topP)
    {
        var q = p.Select(x => Math.Pow(x, 1 / temperature)).ToArray();
        double s = q.Sum();
        q = q.Select(x => x / s).ToArray();
        if (topP >= 1) return q;
        var order = Enumerable.Range(0, q.Length).OrderByDescending(i => q[i]).ToArray();
        double before = 0;
        var kept = new double[q.Length];
        for (int k = 0; k < order.Length; k++)
        {
            if (k == 0 || before <= topP) kept[order[k]] = q[order[k]];
            before += q[order[k]];
        }
        double ks = kept.Sum();
        return kept.Select(x => x / ks).ToArray();
    }

    /// <summary>p(x0_j = v | x, t) = softmax_v(base[j, v] + Σ_{i≠j} W[v, x_i] + time term), over 3 real tokens.
    /// Context enters through every other position (masked or not); the time term (time-conditioned variant) moves the
    /// preferred token from 0 at t ≈ 1 to 2 near ε. Served to samplers as SUBS log-probs.</summary>
    private sealed class AnalyticDenoiser(bool timeConditioned) : IDenoiser
    {
        private static readonly double[,] Base = { { 0.3, -0.2, 0.1 }, { -0.4, 0.5, 0.0 }, { 0.2, 0.2, -0.5 } };
        // W[v, u]: the pull of context token u (MASK = 3) towards v.
        private static readonly double[,] W = { { 1.6, -0.9, 0.2, 0.4 }, { -0.7, 1.4, -0.5, -0.3 }, { 0.1, -0.6, 1.8, 0.0 } };
        private static readonly LogLinearSchedule Schedule = new();

        public int MaskIndex => Mask;
        public int VocabSize => V;
        public bool TimeConditioned => timeConditioned;
        public Device Device => CPU;

        private double[] TimeTerm(double sigma) => timeConditioned ? new[] { 1.5 * sigma, 1.8, 1.35 / sigma } : new double[Real];

        /// <summary>The exact probabilities (float64) at masked position j of x at time t.</summary>
        public double[] Probabilities(int[] x, int j, double t)
        {
            double sigma = -Math.Log(1 - (1 - Schedule.Eps) * t);
            var tt = TimeTerm(sigma);
            var logit = new double[Real];
            for (int v = 0; v < Real; v++)
            {
                logit[v] = Base[j, v] + tt[v];
                for (int i = 0; i < L; i++) if (i != j) logit[v] += W[v, x[i]];
            }
            double m = logit.Max();
            var e = logit.Select(z => Math.Exp(z - m)).ToArray();
            double s = e.Sum();
            return e.Select(z => z / s).ToArray();
        }

        private Tensor Logits(Tensor tokens, Tensor? sigma)
        {
            using var scope = NewDisposeScope();
            long b = tokens.shape[0];
            var oh = nn.functional.one_hot(tokens, V).to(ScalarType.Float64);            // [B, L, 4]
            var ctx = oh.sum(1, keepdim: true) - oh;                                   // other positions' tokens
            var w = tensor(W.Cast<double>().ToArray(), new long[] { Real, V }, ScalarType.Float64);
            var logits = ctx.matmul(w.t()) + tensor(Base.Cast<double>().ToArray(), new long[] { L, Real }, ScalarType.Float64);
            if (timeConditioned)
            {
                if (sigma is null) throw new InvalidOperationException("time-conditioned model called without sigma");
                var s = sigma.to(ScalarType.Float64).reshape(b, 1, 1);
                logits = logits + stack(new[] { 1.5 * s, full_like(s, 1.8), 1.35 / s }, -1).reshape(b, 1, Real);
            }
            var padded = cat(new[] { logits, zeros(b, L, 1, dtype: ScalarType.Float64) }, -1);
            return padded.MoveToOuterDisposeScope();
        }

        public Tensor LogProbs(Tensor tokens, Tensor? sigma = null)
        {
            using var scope = NewDisposeScope();
            return Subs.Apply(Logits(tokens, sigma).to(ScalarType.Float32), tokens, Mask).MoveToOuterDisposeScope();
        }

        public Tensor LogProbsAt(Tensor tokens, Tensor rowIndex, Tensor? sigma = null)
        {
            using var scope = NewDisposeScope();
            if (!tokens.reshape(-1).index_select(0, rowIndex).eq(Mask).all().item<bool>())
                throw new InvalidOperationException("LogProbsAt on an unmasked row");
            var rows = Logits(tokens, sigma).reshape(-1, V).index_select(0, rowIndex);
            return Subs.MaskedRows(rows, Mask).MoveToOuterDisposeScope();
        }
    }
}
