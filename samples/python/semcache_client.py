"""SemCache from Python, over stubs that a stock protoc generates from proto/ (see README.md beside this file).

Sets an answer, asks for it again (an exact hit), asks a paraphrase (a semantic hit), reads the namespace's
statistics and sends a bad request to show the status that names the field. Exits non-zero if the server does not
answer as documented, so CI runs it against a real server (bench/SemCache.LoadTool/smoke.sh).

    python3 semcache_client.py 127.0.0.1:50051
"""

import sys
import uuid

import grpc

from semcache.v1 import semcache_pb2 as pb
from semcache.v1 import semcache_pb2_grpc as rpc


def check(condition, what):
    if not condition:
        raise SystemExit(f"semcache_client.py: unexpected answer: {what}")


def main(address):
    namespace = "python-sample-" + uuid.uuid4().hex[:8]
    with grpc.insecure_channel(address) as channel:
        cache = rpc.SemanticCacheStub(channel)

        stored = cache.Set(pb.SetRequest(
            namespace=namespace,
            prompt="How do I reset my password?",
            response="Use the 'Forgot password' link on the sign-in page.",
            ttl_seconds=3600,
            attributes={"model": "gpt-4o-mini"},
            usage=pb.Usage(model="gpt-4o-mini", input_tokens=12, output_tokens=40)), timeout=30)
        print(f"set        id {stored.id}, semantically indexed: {stored.semantically_indexed}")

        exact = cache.Get(pb.GetRequest(namespace=namespace, prompt="How do I reset my password?",
                                        attributes={"model": "gpt-4o-mini"}), timeout=30)
        check(exact.hit and exact.matches[0].exact, f"an exact hit, got {exact}")
        print(f"exact      hit, similarity {exact.matches[0].similarity:.3f}")

        paraphrase = cache.Get(pb.GetRequest(namespace=namespace, prompt="How can I reset my password?",
                                             attributes={"model": "gpt-4o-mini"}), timeout=30)
        check(paraphrase.hit and not paraphrase.matches[0].exact, f"a semantic hit, got {paraphrase}")
        print(f"paraphrase hit, similarity {paraphrase.matches[0].similarity:.3f}: {paraphrase.matches[0].response}")

        other_model = cache.Get(pb.GetRequest(namespace=namespace, prompt="How can I reset my password?",
                                              attributes={"model": "claude-sonnet-4"}), timeout=30)
        check(not other_model.hit, f"a miss for another model's partition, got {other_model}")
        print("other model miss (attributes are hard partitions)")

        stats = cache.Stats(pb.StatsRequest(namespace=namespace), timeout=30)
        check(stats.entries == 1 and stats.exact_hits == 1 and stats.semantic_hits == 1, f"stats, got {stats}")
        print(f"stats      {stats.entries} entry, hit rate {stats.hit_rate:.2f}, tokens saved {stats.tokens_saved}")

        try:
            cache.Set(pb.SetRequest(namespace=namespace, prompt="", response="an answer"), timeout=30)
            check(False, "INVALID_ARGUMENT for an empty prompt")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.INVALID_ARGUMENT and "prompt" in error.details(),
                  f"INVALID_ARGUMENT naming prompt, got {error.code()}: {error.details()}")
            print(f"bad input  {error.code().name}: {error.details()}")

        cache.Delete(pb.DeleteRequest(namespace=namespace, entire_namespace=True), timeout=30)
    print("semcache_client.py: ok")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
