using Sdtt.Distillation;

namespace Sdtt.Tests.Distillation;

/// <summary>The multi-round step-size schedule.</summary>
public class SdttScheduleTests
{
    [Fact]
    public void PaperDefaultsGiveSevenRoundsFrom1024To8Steps()
    {
        var s = new SdttSchedule().Validate();
        Assert.Equal(7, s.Rounds);
        Assert.Equal(70_000, s.TotalSteps);
        Assert.Equal((1 - 1e-5) / 1024, s.Dt(0));
        Assert.Equal((1 - 1e-5) / 8, s.Dt(7));
        Assert.Equal(2 * s.Dt(3), s.Dt(4));
        Assert.Equal(new[] { 512, 256, 128, 64, 32, 16, 8 }, Enumerable.Range(0, 7).Select(s.StudentStepsAt));
        Assert.Equal(new[] { 1024, 512, 256, 128, 64, 32, 16 }, Enumerable.Range(0, 7).Select(s.TeacherStepsAt));
        Assert.Equal("round-1-steps-512", s.RoundFolderName(1));
        Assert.Equal("round-7-steps-8", s.RoundFolderName(7));
    }

    [Fact]
    public void RoundsStopAtTheMinimumOrTheMaximum()
    {
        Assert.Equal(3, new SdttSchedule(TeacherSteps: 64, MinStudentSteps: 8).Rounds);           // 32, 16, 8
        Assert.Equal(2, new SdttSchedule(TeacherSteps: 64, MinStudentSteps: 8, MaxRounds: 2).Rounds);
        Assert.Equal(2, new SdttSchedule(TeacherSteps: 64, K: 4, MinStudentSteps: 4).Rounds);       // 16, 4
        Assert.Throws<SdttException>(() => new SdttSchedule(TeacherSteps: 8, MinStudentSteps: 8).Validate());
    }

    [Fact]
    public void TransitionsHappenAtMultiplesOfTheRoundLength()
    {
        var s = new SdttSchedule(TeacherSteps: 32, StepsPerRound: 3, MinStudentSteps: 4); // rounds: 16, 8, 4
        Assert.Equal(3, s.Rounds);
        Assert.Equal(new[] { 0, 0, 0, 1, 1, 1, 2, 2, 2 }, Enumerable.Range(0, 9).Select(i => s.RoundAt(i)));
        Assert.Equal(new long[] { 3, 6 }, Enumerable.Range(0, 10).Where(i => s.IsTransition(i)).Select(i => (long)i));
    }
}
