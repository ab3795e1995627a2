// Placeholder entry; the benchmark suites are added below.
return 0;
