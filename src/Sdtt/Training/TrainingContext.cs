using Sdtt.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sdtt.Training;

/// <summary>What an objective sees of the running trainer.</summary>
public sealed class TrainingContext
{
    private readonly Dictionary<string, (double Sum, int Count)> _metrics = new();
    private readonly Action _resetOptimizer;

    internal TrainingContext(TrainerOptions options, Device device, Generator generator, Ema ema, Func<AdamW> optimizer,
        Action resetOptimizer, string runDir, Action<string> log)
    {
        Options = options;
        Device = device;
        Generator = generator;
        Ema = ema;
        _optimizer = optimizer;
        _resetOptimizer = resetOptimizer;
        RunDir = runDir;
        Log = log;
    }

    private readonly Func<AdamW> _optimizer;

    /// <summary>A context outside a <see cref="Trainer"/> run (unit tests of objectives, scripts): a fresh EMA and AdamW over
    /// <paramref name="model"/>'s trainable parameters, a CPU (or <paramref name="device"/>) generator seeded with
    /// <paramref name="seed"/>, and <see cref="Step"/> as given. Dispose the returned EMA and optimizer with the model.</summary>
    public static TrainingContext Standalone(nn.Module model, TrainerOptions? options = null, long seed = 0, long step = 0, Device? device = null)
    {
        var o = options ?? new TrainerOptions();
        device ??= CPU;
        var ema = new Ema(model, o.EmaDecay);
        AdamW NewOpt() => torch.optim.AdamW(model.parameters().Where(p => p.requires_grad), o.Lr, o.Beta1, o.Beta2, o.AdamEps, o.WeightDecay);
        var opt = NewOpt();
        var ctx = new TrainingContext(o, device, new Generator((ulong)seed, device), ema, () => opt, () => { opt.Dispose(); opt = NewOpt(); },
            Path.GetTempPath(), _ => { });
        ctx.Step = step;
        return ctx;
    }

    /// <summary>The trainer options of this run.</summary>
    public TrainerOptions Options { get; }
    /// <summary>The training device.</summary>
    public Device Device { get; }
    /// <summary>Optimizer steps completed before the current one (0 during the first step; Lightning's global_step).</summary>
    public long Step { get; internal set; }
    /// <summary>Index of the current micro-batch within the optimizer step (0 .. accumulation−1).</summary>
    public int MicroStep { get; internal set; }
    /// <summary>Gradient-accumulation factor (global batch / micro-batch).</summary>
    public int Accumulation => Options.Accumulation;
    /// <summary>The dedicated generator for data-dependent noise (t, masks, teacher sampling); saved in checkpoints.</summary>
    public Generator Generator { get; }
    /// <summary>The EMA of <see cref="ITrainingObjective.Model"/>'s parameters.</summary>
    public Ema Ema { get; }
    /// <summary>The optimizer (AdamW over the model's trainable parameters).</summary>
    public AdamW Optimizer => _optimizer();
    /// <summary>The run folder (metrics.jsonl, checkpoints/, model/).</summary>
    public string RunDir { get; }
    /// <summary>Writes one line to the run's log (stderr / progress display).</summary>
    public Action<string> Log { get; }
    /// <summary>The group of data-parallel ranks of the run (a single process unless started by mpirun).</summary>
    public Distributed.ICommunicator Communicator { get; internal init; } = Distributed.SingleProcessCommunicator.Instance;
    /// <summary>Whether this rank writes files (rank 0): objectives save round folders and plots only when true.</summary>
    public bool IsWriter => Communicator.Rank == 0;
    /// <summary>True while <see cref="ITrainingObjective.Validate"/> runs.</summary>
    public bool Validating { get; internal set; }

    /// <summary>Re-creates the optimizer with fresh state (SDTT's reset_optimizer_on_growth).</summary>
    public void ResetOptimizer() => _resetOptimizer();

    /// <summary>Adds a value to a per-step metric (averaged over the micro-batches of the step, logged with the loss).</summary>
    public void AddMetric(string name, double value)
    {
        _metrics.TryGetValue(name, out var m);
        _metrics[name] = (m.Sum + value, m.Count + 1);
    }

    internal Dictionary<string, double> TakeMetrics()
    {
        var d = _metrics.ToDictionary(kv => kv.Key, kv => kv.Value.Sum / kv.Value.Count);
        _metrics.Clear();
        return d;
    }
}
