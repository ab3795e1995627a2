using Sdtt.Distillation;
using Sdtt.Training;

namespace Sdtt.Tests.Distillation;

public class DistillationPlotTests
{
    [Fact]
    public void RoundsPlotIsWrittenOnlyWhenAJudgeEvaluatedRounds()
    {
        var dir = Directory.CreateTempSubdirectory("sdtt-plot").FullName;
        try
        {
            var log = new MetricsLog(Path.Combine(dir, "metrics.jsonl"));
            log.Append(10, "train", new[] { new KeyValuePair<string, double>("loss", 0.5) });
            var png = Path.Combine(dir, "rounds.png");
            Assert.False(DistillationPlot.WriteRounds(log, png));
            Assert.False(File.Exists(png));
            foreach (var (step, steps, ppl) in new[] { (10L, 512.0, 80.0), (20L, 256.0, 85.0), (30L, 128.0, 95.0) })
                log.Append(step, "round", new KeyValuePair<string, double>[] { new("student_steps", steps), new("gen_ppl", ppl), new("entropy", 5.4) });
            Assert.True(DistillationPlot.WriteRounds(log, png));
            var bytes = File.ReadAllBytes(png);
            Assert.True(bytes.Length > 1000 && bytes[1] == (byte)'P' && bytes[2] == (byte)'N' && bytes[3] == (byte)'G');
        }
        finally { Directory.Delete(dir, true); }
    }
}
