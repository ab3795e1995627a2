using Sdtt.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sdtt.Training;

/// <summary>Exponential moving average of a model's trainable parameters with the reference warm-up (mdlm/sdtt
/// <c>ExponentialMovingAverage</c>): at update n = 1, 2, …, d_n = min(decay, (1+n)/(10+n)) and
/// shadow ← shadow − (1 − d_n)(shadow − param). Shadows are float32 copies in parameter registration order.</summary>
public sealed class Ema : IDisposable
{
    private readonly List<Tensor> _shadows;

    /// <summary>Target decay (0.9999 in the reference).</summary>
    public double Decay { get; }
    /// <summary>Updates applied since creation or the last <see cref="Reset"/> (n of the warm-up formula).</summary>
    public long NumUpdates { get; private set; }
    /// <summary>The shadow tensors, in the order of the model's trainable parameters.</summary>
    public IReadOnlyList<Tensor> Shadows => _shadows;

    /// <summary>Starts the average at the model's current parameters.</summary>
    public Ema(nn.Module model, double decay = 0.9999)
    {
        Decay = decay;
        _shadows = Params(model).Select(p => p.detach().to(ScalarType.Float32).clone()).ToList();
    }

    /// <summary>The decay used by update number <paramref name="n"/> (1-based): min(decay, (1+n)/(10+n)).</summary>
    public double DecayAt(long n) => Math.Min(Decay, (1.0 + n) / (10.0 + n));

    /// <summary>Applies one update with the model's current parameters.</summary>
    public void Update(nn.Module model)
    {
        NumUpdates++;
        double oneMinus = 1.0 - DecayAt(NumUpdates);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var ps = Params(model);
        Check(ps);
        for (int i = 0; i < ps.Count; i++)
            _shadows[i].sub_((_shadows[i] - ps[i].to(ScalarType.Float32)).mul_(oneMinus));
    }

    /// <summary>Swaps the shadows into the model until the returned handle is disposed, then restores the raw parameters
    /// bit-exactly: <c>using (ema.Apply(model)) { … }</c>.</summary>
    public IDisposable Apply(nn.Module model)
    {
        var ps = Params(model);
        Check(ps);
        var backup = new List<Tensor>(ps.Count);
        using (no_grad())
        {
            for (int i = 0; i < ps.Count; i++)
            {
                backup.Add(ps[i].detach().clone());
                ps[i].copy_(_shadows[i]);
            }
        }
        return new Restore(ps, backup);
    }

    /// <summary>Copies the shadows into the model permanently (e.g. SDTT's use_ema_on_growth).</summary>
    public void CopyTo(nn.Module model)
    {
        var ps = Params(model);
        Check(ps);
        using var _ = no_grad();
        for (int i = 0; i < ps.Count; i++) ps[i].copy_(_shadows[i]);
    }

    /// <summary>Restarts the average at the model's current parameters with n = 0.</summary>
    public void Reset(nn.Module model)
    {
        var ps = Params(model);
        Check(ps);
        using var _ = no_grad();
        for (int i = 0; i < ps.Count; i++) _shadows[i].copy_(ps[i]);
        NumUpdates = 0;
    }

    /// <summary>The shadows keyed by parameter name (for saving a model folder with EMA weights).</summary>
    public Dictionary<string, Tensor> NamedShadows(nn.Module model)
    {
        var names = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        return names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => _shadows[x.i]);
    }

    /// <summary>Writes the shadows and n to a safetensors file (atomic).</summary>
    public void Save(string path)
    {
        var entries = _shadows.Select((s, i) => new KeyValuePair<string, Tensor>($"shadow.{i:D4}", s)).ToList();
        SafeTensorsWriter.Write(path, entries, new Dictionary<string, string> { ["num_updates"] = NumUpdates.ToString(), ["decay"] = Decay.ToString("R") });
    }

    /// <summary>Restores what <see cref="Save"/> wrote; the shapes must match.</summary>
    public void Load(string path)
    {
        using var f = new SafeTensorsFile(path);
        if (f.Entries.Count != _shadows.Count) throw new SdttException($"{path}: {f.Entries.Count} EMA shadows, the model has {_shadows.Count} parameters");
        using var _ = no_grad();
        for (int i = 0; i < _shadows.Count; i++)
        {
            using var t = f.Load($"shadow.{i:D4}");
            if (!t.shape.SequenceEqual(_shadows[i].shape)) throw new SdttException($"{path}: EMA shadow {i} has shape [{string.Join(",", t.shape)}], expected [{string.Join(",", _shadows[i].shape)}]");
            _shadows[i].copy_(t);
        }
        NumUpdates = long.Parse(f.Metadata.TryGetValue("num_updates", out var n) ? n : throw new SdttException($"{path}: no num_updates"));
    }

    private void Check(IReadOnlyList<Parameter> ps)
    {
        if (ps.Count != _shadows.Count) throw new InvalidOperationException($"EMA holds {_shadows.Count} shadows but the model has {ps.Count} trainable parameters");
    }

    private static List<Parameter> Params(nn.Module model) => model.parameters().Where(p => p.requires_grad).ToList();

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in _shadows) s.Dispose();
        _shadows.Clear();
    }

    private sealed class Restore : IDisposable
    {
        private readonly IReadOnlyList<Parameter> _ps;
        private readonly List<Tensor> _backup;
        private bool _done;
        public Restore(IReadOnlyList<Parameter> ps, List<Tensor> backup) { _ps = ps; _backup = backup; }
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            using (no_grad())
                for (int i = 0; i < _ps.Count; i++) _ps[i].copy_(_backup[i]);
            foreach (var b in _backup) b.Dispose();
        }
    }
}
