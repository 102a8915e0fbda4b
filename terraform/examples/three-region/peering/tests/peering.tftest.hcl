# terraform test with mocked AWS providers: plans one pair's peering state
# of the three-region example. Each VPC and route table the region module
# built is found by its tags; a region with existing_network gives its ids.

mock_provider "aws" {
  alias = "requester"
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_vpc" {
    defaults = { id = "vpc-0eu" }
  }
  mock_data "aws_route_table" {
    defaults = { id = "rtb-0eu" }
  }
}

mock_provider "aws" {
  alias = "accepter"
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_vpc" {
    defaults = { id = "vpc-0us" }
  }
  mock_data "aws_route_table" {
    defaults = { id = "rtb-0us" }
  }
}

run "eu_west_us_east" {
  command = plan

  variables {
    pair = ["eu-west", "us-east"]
  }

  assert {
    condition     = output.routes == { "rtb-0eu" = "10.41.0.0/16", "rtb-0us" = "10.40.0.0/16" }
    error_message = "Each side must route the other VPC's CIDR through the peering."
  }
  assert {
    condition     = data.aws_vpc.requester[0].tags["drnode:cluster"] == "cogitator-dr" && data.aws_vpc.requester[0].tags["drnode:region"] == "eu-west"
    error_message = "The requester's VPC is the one the region module tagged for eu-west."
  }
  assert {
    condition     = data.aws_vpc.accepter[0].tags["drnode:region"] == "us-east" && data.aws_route_table.requester[0].tags["drnode:region"] == "eu-west"
    error_message = "The accepter's VPC is the one tagged for us-east, the requester's route table the one for eu-west."
  }
  assert {
    condition     = data.aws_route_table.accepter[0].vpc_id == "vpc-0us" && data.aws_route_table.accepter[0].tags["drnode:region"] == "us-east"
    error_message = "The accepter's route table is the tagged one in us-east's VPC."
  }
}

# us-east brings its own network: its ids come from cluster.tfvars and
# nothing is looked up there.
run "existing_network" {
  command = plan

  variables {
    pair = ["eu-west", "us-east"]
    region_b = {
      name         = "us-east"
      aws_region   = "us-east-1"
      vpc_cidr     = "10.41.0.0/16"
      subnet_cidrs = ["10.41.1.0/24", "10.41.2.0/24"]
      azs          = ["us-east-1a", "us-east-1b"]
      bucket       = "cogitator-dr-us-east-backups"
      priority     = 50
      dns_targets  = ["198.51.100.10"]
      nodes = [
        { id = 3, subnet = 0, private_ip = "10.41.1.10" },
        { id = 4, subnet = 1, private_ip = "10.41.2.10" },
      ]
      existing_network = {
        vpc_id         = "vpc-0mine"
        subnet_ids     = ["subnet-01", "subnet-02"]
        route_table_id = "rtb-0mine"
      }
    }
  }

  assert {
    condition     = output.routes == { "rtb-0eu" = "10.41.0.0/16", "rtb-0mine" = "10.40.0.0/16" }
    error_message = "A region's existing_network route table gets the route."
  }
  assert {
    condition     = length(data.aws_vpc.accepter) == 0 && length(data.aws_route_table.accepter) == 0
    error_message = "Nothing is looked up in a region that brings its own network."
  }
}

run "same_region_twice_refused" {
  command = plan

  variables {
    pair = ["eu-west", "eu-west"]
  }

  expect_failures = [var.pair]
}
