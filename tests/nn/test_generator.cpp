// The seed's generator: configuration, parameter count, determinism, naming/loading.
#include "nn/generator.h"
#include "tests/testing.h"

using namespace ff;
using namespace ff::nn;

TEST_CASE("nn: the seed generator's configuration and parameter count") {
  Context ctx(7);
  Generator G(ctx, GeneratorConfig::seed());
  CHECK(G.num_ws() == 11);
  CHECK(G.mapping_parameter_count() == 8320);
  CHECK(G.parameter_count() - G.mapping_parameter_count() == 9788361);
  CHECK(G.parameter_count() == 9796681);
  Generator S(ctx, GeneratorConfig::stylegan2());
  CHECK(S.num_ws() == 10);
  CHECK(S.parameter_count() == 9796681);
}
