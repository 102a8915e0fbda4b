# The VPC peering between two regions' coordinator VPCs, with a route each
# way, in a state of its own per pair: while a region is down, only the two
# pairs that include it cannot be applied.
#
#   cd peering
#   terraform init -reconfigure -backend-config=../eu-west+us-east.s3.tfbackend
#   terraform apply -var-file=../cluster.tfvars -var 'pair=["eu-west","us-east"]'
#
# Apply it after both regions' states. It finds each VPC and route table
# that the region module built by their drnode:cluster and drnode:region
# tags, or takes a region's existing_network ids from cluster.tfvars.

locals {
  side = [for name in var.pair : one([for r in local.regions : r if r.name == name])]

  # Which sides bring their own network (ids in cluster.tfvars).
  byo = [for s in local.side : s.existing_network != null]
}

provider "aws" {
  alias  = "requester"
  region = local.side[0].aws_region

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "accepter"
  region = local.side[1].aws_region

  default_tags {
    tags = var.tags
  }
}

data "aws_vpc" "requester" {
  provider = aws.requester
  count    = local.byo[0] ? 0 : 1

  tags = {
    "drnode:cluster" = var.cluster_name
    "drnode:region"  = local.side[0].name
  }
}

data "aws_route_table" "requester" {
  provider = aws.requester
  count    = local.byo[0] ? 0 : 1

  vpc_id = data.aws_vpc.requester[0].id
  tags = {
    "drnode:cluster" = var.cluster_name
    "drnode:region"  = local.side[0].name
  }
}

data "aws_vpc" "accepter" {
  provider = aws.accepter
  count    = local.byo[1] ? 0 : 1

  tags = {
    "drnode:cluster" = var.cluster_name
    "drnode:region"  = local.side[1].name
  }
}

data "aws_route_table" "accepter" {
  provider = aws.accepter
  count    = local.byo[1] ? 0 : 1

  vpc_id = data.aws_vpc.accepter[0].id
  tags = {
    "drnode:cluster" = var.cluster_name
    "drnode:region"  = local.side[1].name
  }
}

locals {
  requester_vpc_id         = local.byo[0] ? local.side[0].existing_network.vpc_id : data.aws_vpc.requester[0].id
  requester_route_table_id = local.byo[0] ? local.side[0].existing_network.route_table_id : data.aws_route_table.requester[0].id
  accepter_vpc_id          = local.byo[1] ? local.side[1].existing_network.vpc_id : data.aws_vpc.accepter[0].id
  accepter_route_table_id  = local.byo[1] ? local.side[1].existing_network.route_table_id : data.aws_route_table.accepter[0].id
}

module "peering" {
  source = "../../../modules/peering"
  providers = {
    aws.requester = aws.requester
    aws.accepter  = aws.accepter
  }

  name                     = "${var.cluster_name}-${local.side[0].name}-${local.side[1].name}"
  requester_vpc_id         = local.requester_vpc_id
  requester_cidr           = local.side[0].vpc_cidr
  requester_route_table_id = local.requester_route_table_id
  accepter_vpc_id          = local.accepter_vpc_id
  accepter_cidr            = local.side[1].vpc_cidr
  accepter_route_table_id  = local.accepter_route_table_id
  tags                     = var.tags
}
