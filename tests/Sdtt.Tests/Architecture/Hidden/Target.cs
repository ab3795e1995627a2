namespace Sdtt.Tests.Architecture.Hidden;

/// <summary>Referenced by <see cref="Architecture.BodyOnly"/> only inside a method body.</summary>
internal static class Target
{
    public static int Value() => 42;
}
