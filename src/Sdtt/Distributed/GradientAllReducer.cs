using System.Diagnostics;
using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sdtt.Distributed;

/// <summary>Sums the gradients of a model's trainable parameters over all ranks, in a few large contiguous float32 buckets
/// (one MPI_Allreduce per bucket instead of one per tensor: latency is paid per call). Each bucket is a host buffer:
/// gradients are copied in, reduced in place, and copied back. With each rank's loss already divided by the global number of
/// micro-batches, the sum is the gradient of the mean loss over the global batch, the single-process gradient.</summary>
public sealed class GradientAllReducer : IDisposable
{
    /// <summary>Default bucket size: 25 MiB, PyTorch DDP's default.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    private readonly ICommunicator _comm;
    private readonly List<(Tensor? Buffer, List<(Parameter Param, long Offset, long Count)> Slots)> _buckets = new();

    /// <summary>Float32 values reduced per call of <see cref="AllReduce"/> (the trainable parameter count).</summary>
    public long Elements { get; }
    /// <summary>Bytes each rank sends into the all-reduce per optimizer step (<see cref="Elements"/> × 4).</summary>
    public long BytesPerStep => Elements * sizeof(float);
    /// <summary>Number of buckets (MPI_Allreduce calls per step).</summary>
    public int Buckets => _buckets.Count;
    /// <summary>Wall time of the last <see cref="AllReduce"/> (copies included).</summary>
    public TimeSpan LastDuration { get; private set; }

    /// <summary>Buckets over <paramref name="parameters"/> (in order), each at most <paramref name="bucketBytes"/> unless one
    /// tensor is larger.</summary>
    public GradientAllReducer(ICommunicator comm, IEnumerable<Parameter> parameters, long bucketBytes = DefaultBucketBytes)
    {
        _comm = comm;
        long cap = Math.Max(1, bucketBytes / sizeof(float));
        var slots = new List<(Parameter, long, long)>();
        long used = 0;
        void Close()
        {
            if (slots.Count == 0) return;
            // One process never reduces: no host copy of the gradients (it would be as large as the model).
            _buckets.Add((comm.Size > 1 ? zeros(used, dtype: ScalarType.Float32) : null, slots));
            slots = new List<(Parameter, long, long)>();
            used = 0;
        }
        foreach (var p in parameters)
        {
            long n = p.numel();
            if (used > 0 && used + n > cap) Close();
            slots.Add((p, used, n));
            used += n;
            Elements += n;
        }
        Close();
    }

    /// <summary>Replaces every parameter's gradient by its sum over all ranks (a parameter without a gradient counts as zeros
    /// and stays without one). No-op in a single-process group.</summary>
    public void AllReduce()
    {
        if (_comm.Size == 1) return;
        var clock = Stopwatch.StartNew();
        using var _ = no_grad();
        foreach (var (b, slots) in _buckets)
        {
            var buffer = b!;
            using var scope = NewDisposeScope();
            foreach (var (p, off, n) in slots)
            {
                var dst = buffer.narrow(0, off, n);
                if (p.grad is { } g) dst.copy_(g.reshape(-1));
                else dst.zero_();
            }
            _comm.AllReduceSum(MemoryMarshal.Cast<byte, float>(buffer.bytes));
            foreach (var (p, off, n) in slots)
                if (p.grad is { } g) g.copy_(buffer.narrow(0, off, n).view(g.shape));
        }
        LastDuration = clock.Elapsed;
    }

    /// <summary>Copies rank <paramref name="root"/>'s values of every parameter and buffer of <paramref name="module"/> to all
    /// ranks, so every rank starts from the same weights.</summary>
    public static void Broadcast(ICommunicator comm, nn.Module module, int root = 0)
    {
        if (comm.Size == 1) return;
        using var _ = no_grad();
        foreach (var (_, t) in module.state_dict())
        {
            using var scope = NewDisposeScope();
            var host = t.device.type == DeviceType.CPU && t.is_contiguous() ? t : t.cpu().contiguous();
            comm.Broadcast(host.bytes, root);
            if (!ReferenceEquals(host, t)) t.copy_(host);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (buffer, _) in _buckets) buffer?.Dispose();
        _buckets.Clear();
    }
}
