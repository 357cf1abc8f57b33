#include "autograd/graph.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "tensor/kernels.h"

namespace ff {

bool record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, BackwardFn fn) {
  if (outputs.empty() || !outputs[0].ctx().grad_enabled()) return false;
  bool any = false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) any = true;
  if (!any) return false;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(fn);
  node->dtype = outputs[0].dtype();
  node->device = outputs[0].device();
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      e.shape = t.shape();
      if (t.impl().grad_fn) {
        e.node = t.impl().grad_fn;
        e.output_nr = t.impl().output_nr;
      } else {
        e.leaf = t.impl_ptr();
      }
    }
    node->inputs.push_back(std::move(e));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    node->output_shapes.push_back(outputs[i].shape());
    if (!outputs[i].defined() || !is_floating(outputs[i].dtype())) continue;
    TensorImpl& o = outputs[i].impl();
    o.requires_grad = true;
    o.grad_fn = node;
    o.output_nr = int(i);
  }
  return true;
}

// leaf gradients own their storage (never alias a backward temporary); node slots may alias
static void accumulate(Tensor& slot, const Tensor& g, bool own) {
  if (!slot.defined()) slot = own ? g.clone() : g;
  else slot = kernels::binary(kernels::Binary::Add, slot, g);
}

void backward(const Tensor& root, const Tensor& d_root) {
  FF_CHECK(root.defined(), "backward: undefined root tensor");
  FF_CHECK(root.requires_grad(), "backward: ", root.str(), " does not require grad (no op on its path needs one)");
  Tensor d0 = d_root;
  if (!d0.defined()) {
    FF_CHECK(root.numel() == 1, "backward: root ", root.str(), " is not a scalar; pass its gradient explicitly");
    d0 = ones(root.ctx(), root.shape(), root.dtype(), root.device());
  }
  FF_CHECK(d0.shape() == root.shape(), "backward: gradient ", d0.shape(), " for root ", root.shape());
  Context& ctx = root.ctx();
  if (!root.impl().grad_fn) {  // a leaf
    Tensor g = root.grad();
    accumulate(g, d0, true);
    root.set_grad(g);
    return;
  }
  // topological order (iterative DFS, post-order)
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root.impl().grad_fn.get(), 0}};
  seen.insert(stack.back().first);
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->inputs.size()) {
      Node* c = n->inputs[i++].node.get();
      if (c && seen.insert(c).second) stack.push_back({c, 0});
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }
  std::reverse(order.begin(), order.end());
  std::unordered_map<Node*, std::vector<Tensor>> grads;
  grads[root.impl().grad_fn.get()].resize(root.impl().grad_fn->output_shapes.size());
  grads[root.impl().grad_fn.get()][size_t(root.impl().output_nr)] = d0;

  NoGrad ng(ctx);
  for (Node* n : order) {
    FF_CHECK(!n->released, "backward: the graph through '", n->name,
             "' was already released by an earlier backward (run the forward again)");
    auto& d_out = grads[n];
    d_out.resize(n->output_shapes.size());
    bool any = false;
    for (size_t i = 0; i < d_out.size(); ++i) {
      if (d_out[i].defined()) any = true;
      else d_out[i] = zeros(ctx, n->output_shapes[i], n->dtype, n->device);
    }
    std::vector<Tensor> d_in;
    if (any) d_in = n->backward(d_out);
    grads.erase(n);
    FF_CHECK(!any || d_in.size() == n->inputs.size(), "backward of '", n->name, "' returned ", d_in.size(),
             " gradients for ", n->inputs.size(), " inputs");
    for (size_t i = 0; any && i < n->inputs.size(); ++i) {
      const Edge& e = n->inputs[i];
      if (!d_in[i].defined() || (!e.node && !e.leaf)) continue;
      FF_CHECK(d_in[i].shape() == e.shape, "backward of '", n->name, "': gradient ", d_in[i].shape(), " for input ", i,
               " of shape ", e.shape);
      if (e.node) {
        auto& slot = grads[e.node.get()];
        slot.resize(e.node->output_shapes.size());
        accumulate(slot[size_t(e.output_nr)], d_in[i], false);
      } else {
        Tensor leaf(e.leaf);
        Tensor g = leaf.grad();
        accumulate(g, d_in[i], true);
        leaf.set_grad(g);
      }
    }
    n->backward = nullptr;  // release saved tensors
    n->released = true;
  }
}

std::vector<Tensor> apply(std::shared_ptr<CustomOp> op, const std::vector<Tensor>& inputs) {
  FF_CHECK(!inputs.empty() && inputs[0].defined(), "apply(", op->name(), "): first input must be defined");
  Context& ctx = inputs[0].ctx();
  std::vector<Tensor> out;
  {
    NoGrad ng(ctx);
    out = op->forward(inputs);
  }
  std::vector<Tensor> detached;
  for (auto& t : out) detached.push_back(t.defined() ? t.detach() : t);
  record(op->name(), inputs, detached, [op](const std::vector<Tensor>& d) { return op->backward(d); });
  return detached;
}

}  // namespace ff
