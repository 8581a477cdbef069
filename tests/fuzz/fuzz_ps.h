/* fuzz_ps.h: the model that fuzz_ps serves and seeds.c writes its messages for. */
#define FUZZ_PS_MODEL "micro-28,dim=8,depth=1,heads=2,dec_dim=8,dec_depth=1,dec_heads=2"
#define FUZZ_PS_REPLICAS 2
