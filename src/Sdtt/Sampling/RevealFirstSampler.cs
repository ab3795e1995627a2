using System.Diagnostics;
using Sdtt.Diffusion;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>The exact reveal-first ancestral sampler (this project's default, registry name <c>reveal-first</c>).
/// <para>In the ancestral update a masked position stays masked with probability m_s/m_t and otherwise takes a token
/// from p_θ (after temperature/top-p); whether it is revealed does not depend on the network. So each step first decides,
/// with one uniform per masked position, which positions are revealed (u &lt; (m_t − m_s)/m_t), and only then runs the
/// network — not at all when nothing in the batch is revealed, and only for the samples that reveal something — and
/// computes the output layer, SUBS, shaping and the token draw at the revealed rows alone. A token is drawn by inverting
/// the float64 CDF with one more uniform (<see cref="InverseCdf"/>). This samples the same distribution as the reference
/// exponential race (<see cref="AncestralSampler"/>) for any denoiser, time-conditioned or not (the network runs at the
/// step's time on the full current sequence), with prompts, infilling, temperature and top-p; masks left at t = ε get
/// the same greedy fill. The proof is a test against the exact distribution (ExactnessTests).</para>
/// <para>Randomness: every sample has its own xoshiro256** stream (<see cref="XoshiroUniformSource.ForSample"/>);
/// per step it draws the reveal uniforms of its masked positions in position order, then one uniform per revealed
/// position. Results therefore do not depend on chunking or on which other samples share the batch, but a seed gives
/// different tokens than the reference sampler with the same seed.</para></summary>
public sealed class RevealFirstSampler : ISampler
{
    private readonly LogLinearSchedule _schedule;

    /// <summary>A sampler using <paramref name="schedule"/> (default: log-linear with ε = 1e-3, the reference).</summary>
    public RevealFirstSampler(LogLinearSchedule? schedule = null) => _schedule = schedule ?? new LogLinearSchedule();

    /// <summary>Test hook: multiplies the reveal probability (1 = the exact sampler). Only the exactness test's
    /// deliberately wrong variants set it.</summary>
    internal double RevealScale { get; init; } = 1.0;

    /// <inheritdoc />
    public SamplingResult Sample(IDenoiser model, SamplingOptions options)
    {
        var o = AncestralSampler.Validate(model, options);
        if (o.Cached) throw new SdttException("the network-output cache belongs to the reference sampler: use the sampler 'ancestral-cached' (reveal-first never recomputes an unchanged step)");
        if (o.Precision != CategoricalPrecision.Float64) throw new SdttException("the categorical precision option belongs to the reference samplers ('ancestral', 'ancestral-cached'); reveal-first always inverts the float64 CDF");
        if (o.Uniforms is not null) throw new SdttException("injected uniforms belong to the reference samplers; reveal-first draws from per-sample seeded streams");
        var settings = ResolveSettings(o);
        int b = o.NumSamples, l = o.SeqLen, v = model.VocabSize, mask = model.MaskIndex, n = o.Steps;
        var device = model.Device;

        // Managed state: tokens [B·L] and fixed positions (prompt, constraint), so reveal decisions cost no tensor work.
        var x = new long[b * l];
        Array.Fill(x, (long)mask);
        for (int s = 0; s < b; s++)
        {
            if (o.AddBos) x[s * l] = o.BosToken;
            if (o.AddEos) x[s * l + l - 1] = o.BosToken;
        }
        var constraint = BuildConstraint(o, settings, b);
        if (constraint is not null)
        {
            constraint.Validate(b, l, v, mask);
            var (fixedMask, fixedTokens) = constraint.ToTensors(b, l, CPU);
            using (fixedMask) using (fixedTokens)
            {
                var fm = fixedMask.data<bool>().ToArray();
                var ft = fixedTokens.data<long>().ToArray();
                for (int i = 0; i < x.Length; i++) if (fm[i]) x[i] = ft[i];
            }
        }

        var streams = o.PerSample is null ? XoshiroUniformSource.ForBatch(o.Seed, b) : settings.Select(st => XoshiroUniformSource.ForSample(st.Seed, 0)).ToArray();
        var cancelled = new bool[b];
        var (times, revealTable) = new AncestralScheduler(n, o.GridEps, _schedule).Table();
        var watch = Stopwatch.StartNew();
        int calls = 0;
        long projected = 0;
        bool fillApplied = false;
        using var noGrad = no_grad();
        Report(o, -1, n, 1.0, x, b, l, mask, false, false, watch);

        var revealed = new List<int>();       // flattened positions revealed this step, by sample then position
        var tokenU = new List<double>();
        for (int i = 0; i < n; i++)
        {
            o.Cancellation.ThrowIfCancellationRequested();
            UpdateCancelled(settings, cancelled);
            double reveal = revealTable[i] * RevealScale;
            revealed.Clear();
            tokenU.Clear();
            for (int s = 0; s < b; s++)
            {
                if (cancelled[s]) continue;
                int first = revealed.Count;
                for (int j = s * l, end = s * l + l; j < end; j++)
                    if (x[j] == mask && streams[s].NextDouble() < reveal) revealed.Add(j);
                for (int k = first; k < revealed.Count; k++) tokenU.Add(streams[s].NextDouble());
            }
            bool called = revealed.Count > 0;
            if (called)
            {
                DrawTokens(model, o, settings, x, revealed, tokenU, b, l, times[i], greedy: false);
                calls++;
                projected += revealed.Count;
            }
            Report(o, i, n, times[i], x, b, l, mask, called, false, watch);
        }

        // Greedy fill of masks left at t = ε (the reference's final denoising pass).
        UpdateCancelled(settings, cancelled);
        revealed.Clear();
        for (int s = 0; s < b; s++)
            if (!cancelled[s])
                for (int j = s * l; j < s * l + l; j++) if (x[j] == mask) revealed.Add(j);
        if (revealed.Count > 0)
        {
            fillApplied = true;
            DrawTokens(model, o, settings, x, revealed, null, b, l, times[n], greedy: true);
            calls++;
            projected += revealed.Count;
            Report(o, n, n, o.GridEps, x, b, l, mask, true, true, watch);
        }

        var tokens = new long[b][];
        for (int s = 0; s < b; s++) tokens[s] = x.AsSpan(s * l, l).ToArray();
        watch.Stop();
        return new SamplingResult(tokens, calls, n, fillApplied, watch.Elapsed)
        {
            Cancelled = o.PerSample is null ? Array.Empty<bool>() : cancelled,
            RowsProjected = projected,
        };
    }

    /// <summary>One network call on the samples owning <paramref name="positions"/> (at time <paramref name="t"/>), then
    /// the output layer, SUBS, shaping and the draw at those rows only, in chunks; writes the tokens into x.</summary>
    private void DrawTokens(IDenoiser model, SamplingOptions o, SampleSettings[] settings, long[] x, List<int> positions,
        List<double>? uniforms, int b, int l, float t, bool greedy)
    {
        using var scope = NewDisposeScope();
        // The samples that take part, in order, and each position's row in their [Bc·L] grid.
        var owners = new List<int>();
        var slot = new int[b];
        foreach (var p in positions)
        {
            int s = p / l;
            if (owners.Count == 0 || owners[^1] != s) { slot[s] = owners.Count; owners.Add(s); }
        }
        var tokenData = new long[owners.Count * l];
        for (int c = 0; c < owners.Count; c++) Array.Copy(x, owners[c] * l, tokenData, c * l, l);
        var device = model.Device;
        var tokens = tensor(tokenData, new long[] { owners.Count, l }).to(device);
        var rowData = positions.Select(p => (long)(slot[p / l] * l + p % l)).ToArray();
        var rows = tensor(rowData).to(device);
        Tensor? sigma = model.TimeConditioned ? _schedule.Sigma(tensor(new[] { t })).expand(owners.Count).to(device) : null;
        using var scorer = model.ScoreMaskedRows(tokens, rows, sigma);
        int chunk = o.ChunkRows;
        var drawn = new long[positions.Count];
        for (int start = 0; start < positions.Count; start += chunk)
        {
            using var cs = NewDisposeScope();
            int c = Math.Min(chunk, positions.Count - start);
            var r = rows.narrow(0, start, c);
            var logp = scorer.Score(r, start, c);
            Tensor z;
            if (greedy) z = AncestralStep.GreedyRows(logp, model.MaskIndex);
            else
            {
                var shaped = Shape(logp, settings, positions, start, c, l, model.MaskIndex);
                var u = tensor(uniforms!.GetRange(start, c).ToArray());
                z = InverseCdf.Draw(shaped, u, model.MaskIndex);
            }
            z.cpu().data<long>().CopyTo(drawn, start);
        }
        for (int k = 0; k < positions.Count; k++) x[positions[k]] = drawn[k];
    }

    /// <summary>Temperature/top-p per sample: the chunk is split into runs of rows whose samples share (T, P).</summary>
    private static Tensor Shape(Tensor logp, SampleSettings[] settings, List<int> positions, int start, int count, int l, int mask)
    {
        var first = settings[positions[start] / l];
        bool uniform = true;
        for (int k = start + 1; k < start + count && uniform; k++)
        {
            var st = settings[positions[k] / l];
            uniform = st.Temperature == first.Temperature && st.TopP == first.TopP;
        }
        if (uniform) return ProbabilityShaping.Apply(logp, first.Temperature, first.TopP, mask);
        var parts = new List<Tensor>();
        int runStart = 0;
        for (int k = 1; k <= count; k++)
        {
            var a = settings[positions[start + runStart] / l];
            bool boundary = k == count;
            if (!boundary)
            {
                var bk = settings[positions[start + k] / l];
                boundary = bk.Temperature != a.Temperature || bk.TopP != a.TopP;
            }
            if (!boundary) continue;
            parts.Add(ProbabilityShaping.Apply(logp.narrow(0, runStart, k - runStart), a.Temperature, a.TopP, mask));
            runStart = k;
        }
        return cat(parts);
    }

    private static SampleSettings[] ResolveSettings(SamplingOptions o)
    {
        if (o.PerSample is null)
        {
            var shared = new SampleSettings { Seed = o.Seed, Temperature = o.Temperature, TopP = o.TopP, Prompt = o.Prompt };
            return Enumerable.Repeat(shared, o.NumSamples).ToArray();
        }
        if (o.PerSample.Count != o.NumSamples)
            throw new SdttException($"per-sample settings are given for {o.PerSample.Count} samples but num-samples is {o.NumSamples}");
        for (int s = 0; s < o.PerSample.Count; s++)
        {
            var st = o.PerSample[s];
            if (!(st.Temperature > 0) || double.IsInfinity(st.Temperature)) throw new SdttException($"sample {s}: temperature must be a positive number (got {st.Temperature})");
            if (!(st.TopP > 0 && st.TopP <= 1)) throw new SdttException($"sample {s}: top-p must be in (0, 1] (got {st.TopP})");
            if (st.Prompt is { Count: > 0 } p && p.Count >= o.SeqLen)
                throw new SdttException($"sample {s}: seq-len {o.SeqLen} leaves no position to generate after a prompt of {p.Count} tokens");
        }
        return o.PerSample.ToArray();
    }

    private static TokenConstraint? BuildConstraint(SamplingOptions o, SampleSettings[] settings, int b)
    {
        TokenConstraint? prompts = null;
        if (o.PerSample is null)
        {
            if (o.Prompt is { Count: > 0 }) prompts = TokenConstraint.Prefix(o.Prompt);
        }
        else if (settings.Any(s => s.Prompt is { Count: > 0 }))
            prompts = TokenConstraint.PerSample(settings.Select(s => s.Prompt?.ToArray() ?? Array.Empty<long>()).ToArray());
        if (prompts is null) return o.Constraint;
        return o.Constraint is null ? prompts : prompts.Merge(o.Constraint);
    }

    private static void UpdateCancelled(SampleSettings[] settings, bool[] cancelled)
    {
        for (int s = 0; s < settings.Length; s++)
            if (settings[s].Cancellation.IsCancellationRequested) cancelled[s] = true;
    }

    private static void Report(SamplingOptions o, int step, int steps, double t, long[] x, int b, int l, int mask, bool called, bool fill, Stopwatch w)
    {
        if (o.OnStep is null) return;
        using var scope = NewDisposeScope();
        long left = 0;
        foreach (var tok in x) if (tok == mask) left++;
        var tokens = tensor(x, new long[] { b, l });
        o.OnStep(new SamplingStep(step, steps, t, tokens, left, called, fill, w.Elapsed));
    }
}
