// PLACEHOLDER (being written): per-ISA CPU pooling kernels.
namespace pdk { namespace PDK_ISA_NAMESPACE { int pool_placeholder() { return 0; } } }
