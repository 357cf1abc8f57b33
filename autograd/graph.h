// autograd/graph.h — reverse-mode automatic differentiation.
//
// Every differentiable op (autograd/ops.h) computes its result with raw kernels and, when recording is on
// (Context::grad_enabled()) and some input requires a gradient, attaches a Node to the result: the Node
// holds the backward rule (a closure with the tensors it saved) and one Edge per input — to the input's
// own Node, or to the input itself when it is a leaf that requires a gradient. backward(loss) orders the
// Nodes topologically, runs each rule once with recording off, accumulates gradients into the leaves'
// .grad (+=; call zero_grad or Optimizer::zero_grad between steps), and then releases the graph: each
// Node drops its saved tensors, so a second backward through the same graph is an error.
// Backward rules are built from the same ops, but are not themselves recorded (no double backward).
//
// Custom ops (fused kernels in splat/, nn/) plug in through CustomOp: a forward and a backward as a pair.
//
//   auto w = ff::randn(ctx, {3, 3}); w.set_requires_grad(true);
//   auto loss = ff::sum(ff::square(ff::matmul(x, w)));
//   ff::backward(loss);                  // w.grad() now holds d loss / d w
//   { ff::NoGrad ng(ctx); ... }          // nothing recorded in this scope
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ff {

struct Edge {
  std::shared_ptr<Node> node;          // the producer's node (non-leaf input), or
  std::shared_ptr<TensorImpl> leaf;    // the leaf tensor whose .grad receives the gradient
  int output_nr = 0;                   // which output of `node`
  Shape shape;                         // the input's shape (gradients are checked against it)
};

// d_outputs[i] is the gradient of output i (zeros when the output did not reach the loss);
// returns one gradient per input (undefined = no gradient for that input).
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& d_outputs)>;

struct Node {
  std::string name;
  std::vector<Edge> inputs;
  std::vector<Shape> output_shapes;
  DType dtype = DType::F32;
  Device device;
  BackwardFn backward;
  bool released = false;
};

// Attach a node to `outputs` if recording is on and an input requires grad. Returns true if recorded.
bool record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, BackwardFn fn);

// Run reverse mode from a scalar (d = 1) or from `root` with the given gradient.
void backward(const Tensor& root, const Tensor& d_root = Tensor());

class NoGrad {
 public:
  explicit NoGrad(Context& ctx) : ctx_(ctx), prev_(ctx.grad_enabled()) { ctx.set_grad_enabled(false); }
  ~NoGrad() { ctx_.set_grad_enabled(prev_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  Context& ctx_;
  bool prev_;
};

// A fused op with a hand-written backward. forward runs with recording off; backward receives one
// gradient per output (zeros where unused) and returns one per input (undefined where not needed).
// The object itself is the saved state between the two.
struct CustomOp {
  virtual ~CustomOp() = default;
  virtual const char* name() const = 0;
  virtual std::vector<Tensor> forward(const std::vector<Tensor>& inputs) = 0;
  virtual std::vector<Tensor> backward(const std::vector<Tensor>& d_outputs) = 0;
};
std::vector<Tensor> apply(std::shared_ptr<CustomOp> op, const std::vector<Tensor>& inputs);

}  // namespace ff
