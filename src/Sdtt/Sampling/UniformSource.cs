using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>Where a sampler's U[0,1) draws come from. Draws are requested per step for the rows being sampled only
/// (row indices into the flattened B·L positions), so production code never materialises B×L×V uniforms, while tests can
/// inject the reference's full [B, L, V] tensors and get exactly the rows the reference would have used.</summary>
public interface IUniformSource
{
    /// <summary>Uniforms [N, V] for the flattened positions <paramref name="rows"/> of a [batch, length] grid.</summary>
    Tensor Draw(Tensor rows, long batch, long length, long vocab, ScalarType dtype, Device device);

    /// <summary>Starts one sampler step whose rows are drawn in chunks (in increasing row order), so a step never needs
    /// all [N, V] uniforms at once. The default forwards each chunk to <see cref="Draw"/>; a source that must serve
    /// exactly one tensor per step (the injected pool) overrides it.</summary>
    IStepUniforms BeginStep(long batch, long length, long vocab, ScalarType dtype, Device device) =>
        new ForwardingStepUniforms(this, batch, length, vocab, dtype, device);
}

/// <summary>The uniforms of one sampler step, served in row chunks.</summary>
public interface IStepUniforms
{
    /// <summary>Uniforms [n, V] for the flattened positions <paramref name="rows"/> (a chunk of this step's rows).</summary>
    Tensor Draw(Tensor rows);
}

/// <summary>Default per-step drawer: one <see cref="IUniformSource.Draw"/> call per chunk.</summary>
internal sealed class ForwardingStepUniforms(IUniformSource source, long batch, long length, long vocab, ScalarType dtype, Device device) : IStepUniforms
{
    /// <inheritdoc />
    public Tensor Draw(Tensor rows) => source.Draw(rows, batch, length, vocab, dtype, device);
}

/// <summary>Uniforms from a seeded torch generator (the production source).</summary>
public sealed class GeneratorUniformSource : IUniformSource, IDisposable
{
    private readonly Generator _generator;

    /// <summary>A CPU generator seeded with <paramref name="seed"/> (draws are moved to the target device, so results do not
    /// depend on the device).</summary>
    public GeneratorUniformSource(long seed) => _generator = new Generator((ulong)seed);

    /// <summary>The underlying generator (its state is what a checkpoint saves).</summary>
    public Generator Generator => _generator;

    /// <inheritdoc />
    public Tensor Draw(Tensor rows, long batch, long length, long vocab, ScalarType dtype, Device device)
    {
        var u = rand(new[] { rows.shape[0], vocab }, dtype: dtype, generator: _generator);
        if (device.type == DeviceType.CPU) return u;
        using (u) return u.to(device);
    }

    /// <summary>Frees the generator.</summary>
    public void Dispose() => _generator.Dispose();
}

/// <summary>Replays given [B, L, V] uniform tensors, one per call (for parity tests against the reference).</summary>
public sealed class InjectedUniformSource : IUniformSource
{
    private readonly Queue<Tensor> _pool;

    /// <summary>Each tensor is consumed by one step, in order.</summary>
    public InjectedUniformSource(IEnumerable<Tensor> perStep) => _pool = new Queue<Tensor>(perStep);

    /// <summary>Draws not yet consumed.</summary>
    public int Remaining => _pool.Count;

    /// <inheritdoc />
    public Tensor Draw(Tensor rows, long batch, long length, long vocab, ScalarType dtype, Device device)
    {
        if (_pool.Count == 0) throw new InvalidOperationException("injected uniform pool exhausted");
        var full = _pool.Dequeue();
        if (!full.shape.SequenceEqual(new[] { batch, length, vocab }))
            throw new ArgumentException($"injected uniforms have shape [{string.Join(", ", full.shape)}], expected [{batch}, {length}, {vocab}]");
        using var scope = NewDisposeScope();
        return full.reshape(batch * length, vocab).index_select(0, rows.cpu()).to(dtype).to(device).MoveToOuterDisposeScope();
    }

    /// <summary>Consumes one pool tensor for the whole step; its chunks are served from it.</summary>
    public IStepUniforms BeginStep(long batch, long length, long vocab, ScalarType dtype, Device device)
    {
        if (_pool.Count == 0) throw new InvalidOperationException("injected uniform pool exhausted");
        var full = _pool.Dequeue();
        if (!full.shape.SequenceEqual(new[] { batch, length, vocab }))
            throw new ArgumentException($"injected uniforms have shape [{string.Join(", ", full.shape)}], expected [{batch}, {length}, {vocab}]");
        return new Step(full.reshape(batch * length, vocab), dtype, device);
    }

    private sealed class Step(Tensor flat, ScalarType dtype, Device device) : IStepUniforms
    {
        public Tensor Draw(Tensor rows)
        {
            using var scope = NewDisposeScope();
            return flat.index_select(0, rows.cpu()).to(dtype).to(device).MoveToOuterDisposeScope();
        }
    }
}
