using Prometheus;
using Sdtt.Serving;

namespace Sdtt.Server;

/// <summary>The server's Prometheus metrics (prometheus-net), in a registry of its own so that several servers in one
/// process keep separate counts: requests by endpoint and status, queue depth, batch sizes, request latency, and
/// prometheus-net's process metrics (process_resident_memory_bytes, …).</summary>
public sealed class ServingMetrics
{
    /// <summary>A fresh registry with every metric registered.</summary>
    public ServingMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var f = Metrics.WithCustomRegistry(Registry);
        Requests = f.CreateCounter("sdtt_requests_total", "HTTP API requests by endpoint and status code", "endpoint", "status");
        QueueDepth = f.CreateGauge("sdtt_queue_depth", "Requests waiting for a batch");
        BatchSize = f.CreateHistogram("sdtt_batch_size", "Requests sampled together in one batch",
            new HistogramConfiguration { Buckets = new double[] { 1, 2, 4, 8, 16, 32, 64 } });
        Latency = f.CreateHistogram("sdtt_request_latency_seconds", "Time from request to the last token, by endpoint", new[] { "endpoint" },
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.005, 2, 16) });
        NetworkCalls = f.CreateCounter("sdtt_network_calls_total", "Forward passes of the model");
        GeneratedTokens = f.CreateCounter("sdtt_generated_tokens_total", "Completion tokens returned");
    }

    /// <summary>The registry served at /metrics.</summary>
    public CollectorRegistry Registry { get; }
    /// <summary>sdtt_requests_total{endpoint, status}.</summary>
    public Counter Requests { get; }
    /// <summary>sdtt_queue_depth.</summary>
    public Gauge QueueDepth { get; }
    /// <summary>sdtt_batch_size.</summary>
    public Histogram BatchSize { get; }
    /// <summary>sdtt_request_latency_seconds{endpoint}.</summary>
    public Histogram Latency { get; }
    /// <summary>sdtt_network_calls_total.</summary>
    public Counter NetworkCalls { get; }
    /// <summary>sdtt_generated_tokens_total.</summary>
    public Counter GeneratedTokens { get; }

    /// <summary>Records one batch of the engine.</summary>
    public void OnBatch(BatchInfo b)
    {
        BatchSize.Observe(b.Size);
        NetworkCalls.Inc(b.NetworkCalls);
    }
}
