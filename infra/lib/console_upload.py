"""Upload console-static/ under console/ of a bucket (infra/console-upload; docs/deploy.md §9).

Every file goes up with its content type and `Cache-Control: no-cache` (the distribution
does not cache the console either, so a new upload shows at the next page load). Keys under
console/ that match no file any more are deleted afterwards, so a half-done upload never
leaves the page without a file it needs. Prints one line per change and a count.
"""

import argparse
import mimetypes
import os
import sys

import boto3

PREFIX = "console/"
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html"}


def content_type(name):
    ext = os.path.splitext(name)[1].lower()
    if ext in TYPES:
        kind = TYPES[ext]
    else:
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return kind + "; charset=utf-8" if kind.startswith("text/") else kind


def local_files(root):
    files = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            files[PREFIX + os.path.relpath(path, root).replace(os.sep, "/")] = path
    return files


def bucket_of_stack(stack, region):
    cfn = boto3.client("cloudformation", region_name=region)
    outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "DataBucketName":
            return output["OutputValue"]
    sys.exit(f"console-upload: stack {stack} has no DataBucketName output")


def main():
    parser = argparse.ArgumentParser(prog="infra/console-upload")
    parser.add_argument("--root", required=True, help=argparse.SUPPRESS)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="the stack whose DataBucketName output names the bucket")
    target.add_argument("--bucket", help="the bucket")
    parser.add_argument("--region", default=None)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()

    bucket = args.bucket or bucket_of_stack(args.stack, args.region)
    s3 = boto3.client("s3", region_name=args.region)
    files = local_files(args.root)
    if "console/index.html" not in files:
        sys.exit(f"console-upload: {args.root} holds no index.html")
    existing = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        existing.update(item["Key"] for item in page.get("Contents", []))

    for key, path in sorted(files.items()):
        print(f"upload {key} ({content_type(key)})")
        if not args.dry_run:
            with open(path, "rb") as body:
                s3.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentType=content_type(key), CacheControl="no-cache"
                )
    stale = sorted(existing - set(files))
    for key in stale:
        print(f"delete {key}")
    if stale and not args.dry_run:
        for start in range(0, len(stale), 1000):
            chunk = stale[start : start + 1000]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"console-upload: {verb} {len(files)} file(s) to s3://{bucket}/{PREFIX}, {len(stale)} stale deleted")


if __name__ == "__main__":
    main()
