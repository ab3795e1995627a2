namespace Sdtt.Distillation;

/// <summary>The multi-round schedule of SDTT (reference D.1): round r (0-based) distils a teacher that takes
/// N0/k^r steps of size dt_r = (1 − ε)/N0 · k^r into a student meant for N0/k^(r+1) steps. Each round lasts
/// <see cref="StepsPerRound"/> optimizer steps; at the start of a step whose global step is a positive multiple of it, the
/// teacher becomes a copy of the raw student. Distillation stops before a round whose student step count would fall below
/// <see cref="MinStudentSteps"/>, or after <see cref="MaxRounds"/> rounds.</summary>
/// <param name="TeacherSteps">N0, the teacher's step count in round 0 (1024).</param>
/// <param name="K">Teacher sub-steps per student step (2).</param>
/// <param name="StepsPerRound">Optimizer steps per round (10,000).</param>
/// <param name="MinStudentSteps">Smallest student step count distilled (8).</param>
/// <param name="MaxRounds">Most rounds (7).</param>
/// <param name="GridEps">Floor ε of the sampling time grid, which runs from 1 down to ε, so one teacher step is dt = (1 − ε) / N (1e-5; JSON key <c>rounds.sampling_eps</c>).</param>
public sealed record SdttSchedule(int TeacherSteps = 1024, int K = 2, long StepsPerRound = 10_000, int MinStudentSteps = 8,
    int MaxRounds = 7, double GridEps = 1e-5)
{
    /// <summary>Checks the values; throws <see cref="SdttException"/> naming the bad one.</summary>
    public SdttSchedule Validate()
    {
        if (TeacherSteps < 2) throw new SdttException($"invalid teacher steps {TeacherSteps}: must be ≥ 2");
        if (K < 2) throw new SdttException($"invalid k {K}: must be ≥ 2");
        if (StepsPerRound < 1) throw new SdttException($"invalid steps per round {StepsPerRound}: must be ≥ 1");
        if (MinStudentSteps < 1) throw new SdttException($"invalid minimum student steps {MinStudentSteps}: must be ≥ 1");
        if (MaxRounds < 1) throw new SdttException($"invalid round count {MaxRounds}: must be ≥ 1");
        if (!(GridEps is > 0 and < 1)) throw new SdttException($"invalid sampling eps {GridEps}: must be in (0, 1)");
        if (StudentSteps(0) < MinStudentSteps)
            throw new SdttException($"teacher steps {TeacherSteps} / k {K} = {StudentSteps(0)} is below the minimum student step count {MinStudentSteps}");
        return this;
    }

    /// <summary>k^r as a double.</summary>
    private double Pow(int r) => Math.Pow(K, r);

    /// <summary>The teacher's step size in round r: (1 − ε)/N0 · k^r.</summary>
    public double Dt(int round) => (1 - GridEps) / TeacherSteps * Pow(round);

    /// <summary>The teacher's step count in round r: N0 / k^r (rounded down).</summary>
    public int TeacherStepsAt(int round) => (int)Math.Floor(TeacherSteps / Pow(round));

    /// <summary>The student's step count in round r: N0 / k^(r+1) (rounded down).</summary>
    public int StudentStepsAt(int round) => StudentSteps(round);

    private int StudentSteps(int round) => (int)Math.Floor(TeacherSteps / Pow(round + 1));

    /// <summary>Rounds this schedule runs: the largest R ≤ MaxRounds with StudentSteps(R − 1) ≥ MinStudentSteps.</summary>
    public int Rounds
    {
        get
        {
            int r = 0;
            while (r < MaxRounds && StudentSteps(r) >= MinStudentSteps) r++;
            return r;
        }
    }

    /// <summary>Optimizer steps of the whole distillation (Rounds × StepsPerRound).</summary>
    public long TotalSteps => Rounds * StepsPerRound;

    /// <summary>The round in which the optimizer step that starts after <paramref name="stepsDone"/> steps runs
    /// (floor(stepsDone / R), capped at the last round).</summary>
    public int RoundAt(long stepsDone) => (int)Math.Min(stepsDone / StepsPerRound, Math.Max(Rounds - 1, 0));

    /// <summary>True when the step starting after <paramref name="stepsDone"/> steps begins a new round (the teacher grows).</summary>
    public bool IsTransition(long stepsDone) => stepsDone > 0 && stepsDone % StepsPerRound == 0 && stepsDone / StepsPerRound < Rounds;

    /// <summary>Folder name of a finished round (1-based): <c>round-{n}-steps-{student steps}</c>.</summary>
    public string RoundFolderName(int finishedRound1Based) => $"round-{finishedRound1Based}-steps-{StudentSteps(finishedRound1Based - 1)}";
}
