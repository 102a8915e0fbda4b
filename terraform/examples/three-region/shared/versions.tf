terraform {
  required_version = ">= 1.10" # validations that read other variables; S3 state locking (use_lockfile)

  # One state per root and per region (docs/deploy.md): give each its own
  # key, in a bucket outside the region it describes, with
  # terraform init -backend-config=FILE.s3.tfbackend.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}
