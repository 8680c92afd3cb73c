// The one translation unit the build compiles: each kernel file has one job, but every file
// parses torch's headers (~30 s each); compiling them together parses them once.
#include "gated.cpp"
#include "layernorm.cpp"  // uses gated.cpp's helpers
#include "linear.cpp"
#include "step.cpp"
